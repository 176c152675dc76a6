// Command chembus is a developer tool for ChemBus: run a proxy, tail topics,
// publish a signal, or generate heartbeat load.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kloros/kloros-observer/actors/chembus"
	"github.com/kloros/kloros-observer/actors/config"

	"github.com/spf13/cobra"

	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/cmd/internal/cli"
	"github.com/kloros/kloros-observer/messages"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env returns the first of names set in the environment, else def: the
// colony's current KLR_UMN_* names win over the older KLR_CHEM_* ones.
func env(def string, names ...string) string {
	for _, name := range names {
		if v := os.Getenv(name); v != "" {
			return v
		}
	}
	return def
}

// connectingAfter is how long tail waits for its subscription before it
// says it is still connecting (and then every stillConnectingEvery).
var connectingAfter, stillConnectingEvery = 3 * time.Second, 30 * time.Second

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	xsub := env("tcp://127.0.0.1:5558", "KLR_UMN_XSUB", "KLR_CHEM_XSUB")
	xpub := env("tcp://127.0.0.1:5559", "KLR_UMN_XPUB", "KLR_CHEM_XPUB")
	root := &cobra.Command{
		Use:   "chembus",
		Short: "ChemBus developer tool: proxy, tail, pub, load",
		Long: `chembus talks to a ChemBus (ZeroMQ XSUB/XPUB proxy). Publishers connect to the
XSUB endpoint (--xsub, env KLR_UMN_XSUB or KLR_CHEM_XSUB, default tcp://127.0.0.1:5558);
subscribers to the XPUB endpoint (--xpub, env KLR_UMN_XPUB or KLR_CHEM_XPUB, default
tcp://127.0.0.1:5559). Messages are two frames [topic, compact JSON payload].`,
		SilenceUsage: true, SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&xsub, "xsub", xsub, "XSUB endpoint (publishers connect here)")
	root.PersistentFlags().StringVar(&xpub, "xpub", xpub, "XPUB endpoint (subscribers connect here)")
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cli.SetVersion(root)
	cli.AddDocs(root)

	root.AddCommand(&cobra.Command{
		Use:   "proxy",
		Short: "Bind --xsub and --xpub and forward between them until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(stderr, "chembus proxy: XSUB %s, XPUB %s\n", xsub, xpub)
			return chembus.RunProxy(ctx, xsub, xpub)
		},
	})
	root.AddCommand(&cobra.Command{
		Use:   "tail [TOPIC...]",
		Short: "Print messages as JSON lines {\"topic\":..., \"payload\":...} (all topics if none given)",
		RunE: func(_ *cobra.Command, topics []string) error {
			if len(topics) == 0 {
				topics = []string{""}
			}
			enc := json.NewEncoder(stdout)
			conn := watchConnection(ctx, xpub, stderr)
			return chembus.TailLog(ctx, xpub, topics, conn, func(topic string, payload []byte) {
				var p any = string(payload)
				if json.Valid(payload) {
					p = json.RawMessage(payload)
				}
				enc.Encode(map[string]any{"topic": topic, "payload": p, "received_at": intentfile.Epoch(time.Now())})
			})
		},
	})
	var pubCount int
	var noValidate bool
	var pubEvery time.Duration
	pub := &cobra.Command{
		Use:   "pub TOPIC JSON",
		Short: "Publish a signal: JSON is a full payload (has \"signal\") or just its facts",
		Long: `Publish on TOPIC. If JSON is an object with a "signal" key it is sent as the
payload unchanged; otherwise it is taken as the facts of a new signal
{"signal": TOPIC, "ecosystem": "dev", "intensity": 1.0, "facts": JSON, ...}.
What consumers are known to drop is refused with the reason: a HEARTBEAT's
facts need zooid (a non-empty string), niche (a string), uptime_s (a number)
and processed_count (an integer >= 0), as SPEC §1.2 says.
Example: chembus pub HEARTBEAT '{"zooid":"z1","niche":"test","uptime_s":1.0,"processed_count":1}'`,
		Args: cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, a []string) error {
			obj, err := parseObject(a[1])
			if err != nil {
				return err
			}
			payload := []byte(a[1])
			_, full := obj["signal"]
			if !noValidate {
				if err := validateSignal(a[0], obj, full); err != nil {
					return fmt.Errorf("not sent: %w (--no-validate sends it anyway)", err)
				}
			}
			if !full {
				b, err := chembus.EncodeSignal(&messages.Signal{Signal: a[0], Ecosystem: "dev", Intensity: 1, Facts: obj,
					TS: intentfile.Epoch(time.Now())})
				if err != nil {
					return err
				}
				payload = b
			}
			p, err := chembus.NewPublisher(xsub, 2*time.Second)
			if err != nil {
				return err
			}
			time.Sleep(300 * time.Millisecond) // let the PUB connect (ZeroMQ's slow joiner)
			for i := range pubCount {
				p.Send(a[0], payload)
				if i+1 < pubCount {
					time.Sleep(pubEvery)
				}
			}
			return p.Close()
		},
	}
	pub.Flags().IntVar(&pubCount, "count", 1, "how many times to send it")
	pub.Flags().BoolVar(&noValidate, "no-validate", false, "send even what consumers would drop (e.g. a HEARTBEAT without zooid)")
	pubEvery = time.Second
	pub.Flags().Var(config.DurationFlag{D: &pubEvery}, "every", "interval between sends with --count")
	root.AddCommand(pub)

	var zooids int
	var interval, duration time.Duration
	var prefix string
	load := &cobra.Command{
		Use:   "load",
		Short: "Send HEARTBEATs for --zooids zooids, each every --interval, spread evenly, for --duration",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if zooids < 1 || interval <= 0 || duration <= 0 {
				return fmt.Errorf("--zooids (%d), --interval (%s) and --duration (%s) must be positive", zooids, interval, duration)
			}
			p, err := chembus.NewPublisher(xsub, 2*time.Second)
			if err != nil {
				return err
			}
			defer p.Close()
			time.Sleep(300 * time.Millisecond) // let the PUB connect (ZeroMQ's slow joiner)
			start := time.Now()
			step := interval / time.Duration(zooids)
			sent := 0
			for n := 0; time.Since(start) < duration; n++ {
				due := start.Add(time.Duration(n) * step)
				if d := time.Until(due); d > 0 {
					select {
					case <-ctx.Done():
						return nil
					case <-time.After(d):
					}
				}
				z := n % zooids
				b, _ := chembus.EncodeSignal(&messages.Signal{Signal: "HEARTBEAT", Ecosystem: "colony", Intensity: 1,
					Facts: map[string]any{"zooid": fmt.Sprintf("%s%d", prefix, z), "niche": "load",
						"uptime_s": time.Since(start).Seconds(), "processed_count": n / zooids},
					TS: intentfile.Epoch(time.Now())})
				p.Send("HEARTBEAT", b)
				sent++
			}
			fmt.Fprintf(stderr, "sent %d heartbeats for %d zooids in %s\n", sent, zooids, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	load.Flags().IntVar(&zooids, "zooids", 100, "number of zooids")
	interval = 10 * time.Second
	load.Flags().Var(config.DurationFlag{D: &interval}, "interval", "each zooid's heartbeat interval")
	duration = 30 * time.Second
	load.Flags().Var(config.DurationFlag{D: &duration}, "duration", "how long to run")
	load.Flags().StringVar(&prefix, "prefix", "load_zooid_", "zooid name prefix")
	root.AddCommand(load)

	if err := root.Execute(); err != nil {
		fmt.Fprintln(stderr, "chembus:", err)
		return 2
	}
	return 0
}
