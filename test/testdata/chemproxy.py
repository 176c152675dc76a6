#!/usr/bin/python3
"""A plain XSUB/XPUB ChemBus proxy, as the colony runs it (zmq.proxy).

Usage: chemproxy.py XSUB_BIND XPUB_BIND. Prints "ready" once bound."""
import sys

import zmq

ctx = zmq.Context()
xsub = ctx.socket(zmq.XSUB)
xsub.bind(sys.argv[1])
xpub = ctx.socket(zmq.XPUB)
xpub.bind(sys.argv[2])
print("ready", flush=True)
zmq.proxy(xsub, xpub)
