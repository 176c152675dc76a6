#!/usr/bin/python3
"""A ChemBus peer that behaves like the colony's Python ChemPub/ChemSub.

It publishes HEARTBEAT for the zooids it is told about (the first message of
each topic is sent twice, 150 ms apart, as ChemPub does) and subscribes to
CAPABILITY_GAP, CAPABILITY_RESTORED and HEARTBEAT. Every event is printed as
one JSON line on stdout:

  {"ev": "ready"}                               sockets connected
  {"ev": "sent", "zooid": z, "t": epoch}        a heartbeat went out
  {"ev": "stopped", "zooid": z, "last": epoch}  z will beat no more
  {"ev": "recv", "topic": T, "t": epoch, "payload": {...}}

Commands on stdin, one per line: "start ZOOID [NICHE]", "stop ZOOID", "quit"
(the niche defaults to test_niche).

Usage: chempeer.py XSUB XPUB INTERVAL_S
"""
import json
import sys
import threading
import time

import zmq

xsub, xpub, interval = sys.argv[1], sys.argv[2], float(sys.argv[3])
ctx = zmq.Context()
lock = threading.Lock()


def out(obj):
    with lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


pub = ctx.socket(zmq.PUB)
pub.connect(xsub)
sub = ctx.socket(zmq.SUB)
sub.connect(xpub)
for t in ("CAPABILITY_GAP", "CAPABILITY_RESTORED", "HEARTBEAT"):
    sub.setsockopt_string(zmq.SUBSCRIBE, t)

zooids = {}  # name -> processed count
niches = {}  # name -> niche
first_sent = set()
state = threading.Lock()
stop_all = threading.Event()


def signal(zooid, n):
    return {
        "signal": "HEARTBEAT", "ecosystem": "colony", "intensity": 1.0,
        "facts": {"zooid": zooid, "niche": niches.get(zooid, "test_niche"), "uptime_s": time.time(), "processed_count": n},
        "incident_id": None, "trace": None, "ts": time.time(), "schema_version": 1,
    }


def send(zooid):
    n = zooids[zooid]
    payload = json.dumps(signal(zooid, n), separators=(",", ":")).encode()
    pub.send_multipart([b"HEARTBEAT", payload])
    t = time.time()
    if zooid not in first_sent:  # ChemPub's double-tap of a first message
        first_sent.add(zooid)
        time.sleep(0.15)
        pub.send_multipart([b"HEARTBEAT", payload])
        t = time.time()
    out({"ev": "sent", "zooid": zooid, "t": t})


def beat():
    while not stop_all.is_set():
        with state:
            names = list(zooids)
            for z in names:
                zooids[z] += 1
                send(z)
        stop_all.wait(interval)


def recv():
    poller = zmq.Poller()
    poller.register(sub, zmq.POLLIN)
    while not stop_all.is_set():
        if poller.poll(100):
            topic, payload = sub.recv_multipart()
            out({"ev": "recv", "topic": topic.decode(), "t": time.time(), "payload": json.loads(payload)})


threading.Thread(target=recv, daemon=True).start()
time.sleep(0.3)  # let the SUB subscription propagate through the proxy
out({"ev": "ready"})
threading.Thread(target=beat, daemon=True).start()
last = {}
for line in sys.stdin:
    cmd = line.split()
    if not cmd:
        continue
    if cmd[0] == "start":
        with state:
            zooids.setdefault(cmd[1], 0)
            if len(cmd) > 2:
                niches[cmd[1]] = cmd[2]
    elif cmd[0] == "stop":
        with state:
            zooids.pop(cmd[1], None)
            out({"ev": "stopped", "zooid": cmd[1], "t": time.time()})
    elif cmd[0] == "quit":
        break
stop_all.set()
pub.close(linger=1000)
sub.close(linger=0)
ctx.term()
