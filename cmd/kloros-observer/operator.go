package main

// The operator's subcommands: tap, status, silence. They talk to a running
// daemon's /api/v1 (--api, default the configured listen address) and say
// so plainly when it is not running.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kloros/kloros-observer/actors/web"
	"github.com/kloros/kloros-observer/supervision"
)

// apiClient talks to the daemon's API.
type apiClient struct {
	base string
	http *http.Client
	user string
	pass string
}

// defaultAPI is the API URL for a listen address (a wildcard host means
// this machine's loopback).
func defaultAPI(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://127.0.0.1:9464"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func newAPIClient(base string, timeout time.Duration) (*apiClient, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--api %q: want http(s)://host:port", base)
	}
	c := &apiClient{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: timeout}}
	// Basic auth for a daemon behind --web.config.file: KLOROS_OBSERVER_AUTH=user:password.
	if a := os.Getenv("KLOROS_OBSERVER_AUTH"); a != "" {
		c.user, c.pass, _ = strings.Cut(a, ":")
	}
	return c, nil
}

// notRunning turns a connection failure into a sentence an operator reads.
func (c *apiClient) notRunning(err error) error {
	var op *net.OpError
	if errors.As(err, &op) || errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("no daemon is running at %s (%v): start it (systemctl start kloros-observer) or pass --api URL", c.base, err)
	}
	return fmt.Errorf("cannot reach kloros-observer at %s: %w", c.base, err)
}

func (c *apiClient) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.notRunning(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error, Field string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s %s: %s (HTTP %d)", method, path, e.Error, resp.StatusCode)
		}
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// operatorCommands returns tap, status and silence. code is set to 1 when
// one fails (the daemon is not running, the API refused).
func operatorCommands(cfg *supervision.Config, stdout io.Writer, code *int) []*cobra.Command {
	var api string
	var timeout time.Duration
	client := func() (*apiClient, error) {
		if api == "" {
			api = defaultAPI(cfg.HTTP.Listen)
		}
		return newAPIClient(api, timeout)
	}
	addAPI := func(c *cobra.Command) *cobra.Command {
		c.Flags().StringVar(&api, "api", "", "daemon API URL (default: http:// + the configured --http-listen, "+defaultAPI(cfg.HTTP.Listen)+")")
		c.Flags().String("config", "", "the daemon's config file (for its listen address)")
		c.SilenceUsage = true
		wrapped := c.RunE
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if err := wrapped(cmd, args); err != nil {
				*code = exitFailed
				return err
			}
			return nil
		}
		return c
	}

	// tap
	var kinds, types []string
	var count int
	tap := &cobra.Command{
		Use:   "tap",
		Short: "Print the daemon's observation stream as JSON lines (like vector tap)",
		Long: `tap prints what the daemon observes, live, one JSON object a line:
{"kind":"event","data":{...}}. --kind takes event, intent, rule, gap, zooid,
actor, source (comma-separated or repeated); --type keeps only events,
intents and rule firings of those types.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			c.http.Timeout = 0 // a stream
			q := url.Values{}
			if len(kinds) > 0 {
				q.Set("kind", strings.Join(kinds, ","))
			}
			if len(types) > 0 {
				q.Set("type", strings.Join(types, ","))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return c.tap(ctx, "/api/v1/stream?"+q.Encode(), stdout, count)
		},
	}
	tap.Flags().StringSliceVar(&kinds, "kind", nil, "observation kinds to print (default all)")
	tap.Flags().StringSliceVar(&types, "type", nil, "event/intent types to print (default all)")
	tap.Flags().IntVar(&count, "count", 0, "exit after this many observations (0: until interrupted)")

	// status
	var output string
	var all bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Print zooids, sources and rules as tables (or --output json)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			return c.status(cmd.Context(), stdout, output, all)
		},
	}
	status.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	status.Flags().BoolVar(&all, "all", false, "list every zooid, not only the ones that are not alive")

	// silence add|list|expire
	var spec web.SilenceRequest
	silenceCmd := &cobra.Command{Use: "silence", Short: "Add, list or expire heartbeat silences"}
	add := &cobra.Command{
		Use:   "add",
		Short: "Silence a zooid, a niche or a name pattern (no CAPABILITY_GAP until it ends)",
		Example: `  kloros-observer silence add --zooid gpu-worker-3 --duration 2h --comment "driver upgrade"
  kloros-observer silence add --niche io --until 2026-12-01T06:00:00Z --comment "rack move"
  kloros-observer silence add --pattern 'batch-.*' --duration 24h --comment decommissioned`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			if until, _ := cmd.Flags().GetString("until"); until != "" {
				t, err := time.Parse(time.RFC3339, until)
				if err != nil {
					return fmt.Errorf("--until %q: want an RFC 3339 time such as 2026-12-01T06:00:00Z", until)
				}
				spec.Until = t
			} else if spec.Duration == "" {
				spec.Duration = "1h"
			}
			var s web.SilenceJSON
			if err := c.do(cmd.Context(), "POST", "/api/v1/silences", spec, &s); err != nil {
				return err
			}
			if output == "json" {
				return json.NewEncoder(stdout).Encode(s)
			}
			fmt.Fprintf(stdout, "silence %s active until %s\n", s.ID, s.Ends.Local().Format(time.RFC3339))
			return nil
		},
	}
	add.Flags().StringVar(&spec.Zooid, "zooid", "", "zooid name (exact)")
	add.Flags().StringVar(&spec.Niche, "niche", "", "niche (exact)")
	add.Flags().StringVar(&spec.Pattern, "pattern", "", "zooid name pattern (RE2, anchored)")
	add.Flags().StringVar(&spec.Duration, "duration", "", "how long (2h, 90m, or seconds; default 1h)")
	add.Flags().String("until", "", "until this RFC 3339 time (instead of --duration)")
	add.Flags().StringVar(&spec.Comment, "comment", "", "why (planned maintenance, decommissioned, ...)")
	add.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	list := &cobra.Command{
		Use:   "list",
		Short: "List silences (active, and expired ones of the last day with --all)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			path := "/api/v1/silences?state=active"
			if all {
				path = "/api/v1/silences"
			}
			var r struct {
				Silences []web.SilenceJSON `json:"silences"`
			}
			if err := c.do(cmd.Context(), "GET", path, nil, &r); err != nil {
				return err
			}
			if output == "json" {
				return json.NewEncoder(stdout).Encode(r)
			}
			tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tMATCHES\tSTATE\tENDS\tBY\tCOMMENT")
			for _, s := range r.Silences {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, matches(s), s.State, s.Ends.Local().Format(time.RFC3339), s.CreatedBy, s.Comment)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	list.Flags().BoolVar(&all, "all", false, "include expired silences")
	expire := &cobra.Command{
		Use:   "expire ID...",
		Short: "End silences now",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			for _, id := range args {
				if err := c.do(cmd.Context(), "DELETE", "/api/v1/silences/"+url.PathEscape(id), nil, nil); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "silence %s expired\n", id)
			}
			return nil
		},
	}
	for _, c := range []*cobra.Command{add, list, expire} {
		silenceCmd.AddCommand(addAPI(c))
		c.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for the daemon")
	}
	for _, c := range []*cobra.Command{status} {
		c.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for the daemon")
	}
	return []*cobra.Command{addAPI(tap), addAPI(status), silenceCmd}
}

func matches(s web.SilenceJSON) string {
	var m []string
	if s.Zooid != "" {
		m = append(m, "zooid="+s.Zooid)
	}
	if s.Niche != "" {
		m = append(m, "niche="+s.Niche)
	}
	if s.Pattern != "" {
		m = append(m, "pattern=/"+s.Pattern+"/")
	}
	return strings.Join(m, ",")
}

// tap copies the SSE stream to w as JSON lines.
func (c *apiClient) tap(ctx context.Context, path string, w io.Writer, count int) error {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.notRunning(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("tap: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	bw := bufio.NewWriter(w)
	kind, n := "", 0
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			kind = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			k, _ := json.Marshal(kind)
			fmt.Fprintf(bw, `{"kind":%s,"data":%s}`+"\n", k, line[len("data: "):])
			n++
		case line == "":
			if err := bw.Flush(); err != nil {
				return err
			}
			if count > 0 && n >= count {
				return nil
			}
		}
	}
	bw.Flush()
	if ctx.Err() != nil {
		return nil // interrupted
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("tap: the stream ended: %w", err)
	}
	return errors.New("tap: the daemon closed the stream (it stopped?)")
}

// statusReport is `status --output json`.
type statusReport struct {
	Status  web.StatusJSON      `json:"status"`
	Zooids  web.ZooidsJSON      `json:"zooids"`
	Sources []web.SourceState   `json:"sources"`
	Rules   []web.RuleJSON      `json:"rules"`
	Extra   map[string]struct{} `json:"-"`
}

func (c *apiClient) status(ctx context.Context, w io.Writer, output string, all bool) error {
	if output != "table" && output != "json" {
		return fmt.Errorf("--output %q: want table or json", output)
	}
	var r statusReport
	if err := c.do(ctx, "GET", "/api/v1/status", nil, &r.Status); err != nil {
		return err
	}
	zq := "/api/v1/zooids?sort=state&limit=100000"
	if !all {
		zq += "&state=silent,restored-grace,silenced"
	}
	if err := c.do(ctx, "GET", zq, nil, &r.Zooids); err != nil {
		return err
	}
	var src struct {
		Sources []web.SourceState `json:"sources"`
	}
	var rules struct {
		Rules []web.RuleJSON `json:"rules"`
	}
	if err := c.do(ctx, "GET", "/api/v1/sources", nil, &src); err != nil {
		return err
	}
	if err := c.do(ctx, "GET", "/api/v1/rules", nil, &rules); err != nil {
		return err
	}
	r.Sources, r.Rules = src.Sources, rules.Rules
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	st := r.Status
	ready := "ready"
	if !st.Ready {
		ready = "NOT READY: " + st.NotReady
	}
	fmt.Fprintf(w, "kloros-observer %s, up %s, %s\n", st.Version, time.Duration(st.UptimeSeconds*float64(time.Second)).Round(time.Second), ready)
	fmt.Fprintf(w, "zooids: %d alive, %d silent, %d silenced, %d restored-grace; %d silences active; %d sources down\n\n",
		st.Zooids["alive"], st.Zooids["silent"], st.Zooids["silenced"], st.Zooids["restored-grace"], st.SilencesActive, st.SourcesDown)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	if len(r.Zooids.Zooids) > 0 {
		fmt.Fprintln(tw, "ZOOID\tNICHE\tSTATE\tLAST SEEN\tTHRESHOLD\tINCIDENT\tUP 24H\tUP 7D")
		for _, z := range r.Zooids.Zooids {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", z.Name, z.Niche, z.State, ago(z.LastSeen),
				time.Duration(z.ThresholdSeconds*float64(time.Second)), dash(z.IncidentID), pct(z.Availability["24h"]), pct(z.Availability["7d"]))
		}
		fmt.Fprintln(tw)
	} else if !all {
		fmt.Fprintln(tw, "every zooid is alive (--all lists them)")
		fmt.Fprintln(tw)
	}
	fmt.Fprintln(tw, "SOURCE\tTARGET\tHEALTH\tDETAIL")
	for _, s := range r.Sources {
		h := "ok"
		if !s.Healthy {
			h = "DOWN"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Source, s.Target, h, s.Detail)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "RULE\tON\tFIRED\tLAST FIRED")
	for _, ru := range r.Rules {
		last := "-"
		if !ru.LastFired.IsZero() {
			last = ago(ru.LastFired)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", ru.Name, strings.Join(ru.On, ","), ru.Fired, last)
	}
	return tw.Flush()
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func pct(f *float64) string {
	if f == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", *f*100)
}
