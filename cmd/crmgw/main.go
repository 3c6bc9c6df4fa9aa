// Command crmgw is the CRM security gateway: `crmgw serve` runs it,
// `crmgw validate` checks a configuration and its policies, `crmgw audit
// verify` checks an audit log's hash chain. The self-contained demonstration
// against a local sample CRM is its own program (examples/demo), so that
// this binary links neither the sample CRM nor the test OIDC issuer.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/crmgw/crmgw/audit"
	"github.com/crmgw/crmgw/config"
	"github.com/crmgw/crmgw/internal/buildinfo"
	"github.com/crmgw/crmgw/internal/run"
	"github.com/crmgw/crmgw/policy"
)

// Set by the linker (make build, the Dockerfile):
// -ldflags "-X main.version=v1.2.3 -X main.commit=<git sha>".
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	buildinfo.Set(version, commit)
	if err := newRootCmd().ExecuteContext(context.Background()); err != nil {
		var ex exitError
		if errors.As(err, &ex) {
			os.Exit(int(ex))
		}
		fmt.Fprintln(os.Stderr, "crmgw:", err)
		os.Exit(1)
	}
}

// exitError ends the process with a code, its message already printed.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "crmgw",
		Short: "crmgw is a security gateway in front of Salesforce, Zoho CRM and other CRM APIs",
		Long: `crmgw sits between your people and integrations and your CRM's API.
It authenticates every caller (OIDC, API keys, mTLS), holds the CRM's own
credentials, asks OPA policies for a least-privilege decision on every
request, masks sensitive fields as responses stream, rate-limits and caps
record volumes, and writes one tamper-evident audit event per request.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newValidateCmd(), newAuditCmd(), newVersionCmd(), newDemoCmd())
	root.AddCommand(newApprovalsCmd(), newSubjectsCmd())
	return root
}

func configFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "config", "c", os.Getenv("CRMGW_CONFIG"), "configuration file (env CRMGW_CONFIG)")
}

func newServeCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the gateway",
		Long: `Run the gateway with the given configuration.

Logs are JSON lines on stderr (log.format: console for people).
SIGTERM/SIGINT: stop accepting, finish in-flight requests (server.shutdown_timeout),
flush the audit trail, exit 0. SIGHUP: reload the configuration file
(keys, allow-lists, limits, quotas, upstream credentials, TLS certificates,
policies); a file that does not validate is refused and the running one stays.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return errors.New("no configuration: pass --config FILE or set CRMGW_CONFIG")
			}
			cfg, err := config.Load(path)
			if err != nil {
				run.PrintProblems(os.Stderr, err)
				return exitError(2)
			}
			log, err := run.NewLogger(cfg.Log)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			return run.Serve(cmd.Context(), cfg, log, nil)
		},
	}
	configFlag(cmd, &path)
	return cmd
}

func newValidateCmd() *cobra.Command {
	var path string
	var skipTests bool
	cmd := &cobra.Command{
		Use:   "validate --config FILE",
		Short: "Check a configuration, compile its policies and run their tests",
		Long: `Load the configuration (every problem is reported with file:line and key),
compile the policies it names and run their _test.rego tests.
Unsafe but working settings (trusted_proxies wider than a /16 or /48, an
admin listener reachable from other hosts without admin.token, Redis
without a password or TLS) are printed as warnings; they do not fail.
Exit 0 only if all is well.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return errors.New("no configuration: pass --config FILE or set CRMGW_CONFIG")
			}
			cfg, err := config.Load(path)
			if err != nil {
				run.PrintProblems(os.Stderr, err)
				return exitError(1)
			}
			for _, w := range cfg.Warnings() {
				fmt.Fprintln(os.Stderr, "warning:", w)
			}
			ctx := cmd.Context()
			pc := cfg.Policy
			pc.DecisionLog = nil // validate compiles; it opens no log (as no audit sink)
			eng, err := policy.New(ctx, pc, zap.NewNop())
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return exitError(1)
			}
			fmt.Printf("configuration %s: ok\npolicies: %s (mode %s)\n", path, eng.Revision(), eng.Mode())
			_ = eng.Close()
			if !validateProfiles(cfg) { // profiles.go
				return exitError(1)
			}
			if cfg.Alerts.Rules != "" {
				q, err := policy.NewQuery(ctx, cfg.Policy.Paths, cfg.Alerts.Rules, zap.NewNop())
				if err != nil {
					fmt.Fprintln(os.Stderr, "alerts.rules:", err)
					return exitError(1)
				}
				_ = q.Close()
			}
			if skipTests {
				return nil
			}
			rep, err := policy.RunTests(ctx, cfg.Policy.Paths)
			if err != nil {
				fmt.Fprintln(os.Stderr, "policy tests:", err)
				return exitError(1)
			}
			for _, f := range rep.Failures {
				fmt.Fprintln(os.Stderr, "FAIL", f.String())
			}
			status := "PASS"
			if !rep.OK() {
				status = "FAIL"
			}
			fmt.Printf("policy tests: %s: %d passed, %d failed, %d errored, %d skipped\n", status, rep.Passed, rep.Failed, rep.Errored, rep.Skipped)
			if !rep.OK() {
				return exitError(1)
			}
			return nil
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().BoolVar(&skipTests, "skip-tests", false, "compile policies but do not run their tests")
	return cmd
}

func newAuditCmd() *cobra.Command {
	audit := &cobra.Command{Use: "audit", Short: "Work with audit logs"}
	audit.AddCommand(&cobra.Command{
		Use:   "verify FILE [FILE...]",
		Short: "Verify the hash chain of audit log files (in rotation order)",
		Long: `Recompute the hash chain of one audit log, or of rotated files given oldest
first. Exit 0 if intact; otherwise exit 1 naming the first bad line and why
(edited, deleted, inserted or reordered lines all break the chain).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return verifyAudit(args)
		},
	})
	return audit
}

func verifyAudit(files []string) error {
	rep, err := audit.VerifyFiles(files)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return exitError(1)
	}
	if rep.FirstBadLine > 0 {
		fmt.Fprintf(os.Stderr, "%s:%d: chain broken: %s\n", rep.BadFile, rep.FirstBadLine, rep.Reason)
		return exitError(1)
	}
	fmt.Printf("ok: %d events, chain intact, last hash %s\n", rep.Events, rep.LastHash)
	return nil
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Printf("crmgw %s (commit %s, %s)\n", version, commit, runtime.Version())
		},
	}
}
