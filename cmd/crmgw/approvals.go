package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmgw/crmgw/config"
)

// adminClient calls the admin API (docs/approvals.md) for the approvals
// and subjects commands.
type adminClient struct {
	base, token, config, tokenFile string
	http                           *http.Client
}

func (c *adminClient) flags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&c.base, "admin", os.Getenv("CRMGW_ADMIN_URL"), "admin API base URL (env CRMGW_ADMIN_URL; default http://<admin.listen> of --config, else http://127.0.0.1:9090)")
	f.StringVar(&c.tokenFile, "token-file", "", "file holding the bearer token (else env CRMGW_ADMIN_TOKEN, else the config's admin.token or admin.token_file)")
	f.StringVarP(&c.config, "config", "c", os.Getenv("CRMGW_CONFIG"), "configuration file, for admin.listen and admin.token (env CRMGW_CONFIG)")
}

// resolve finds the admin URL and the token. The token is the admin
// token for operators, or an approver's own credential (OIDC JWT or API
// key) to approve and deny.
func (c *adminClient) resolve() error {
	var cfg *config.Config
	if c.config != "" && (c.base == "" || (c.tokenFile == "" && os.Getenv("CRMGW_ADMIN_TOKEN") == "")) {
		var err error
		if cfg, err = config.Load(c.config); err != nil {
			return err
		}
	}
	if c.base == "" {
		c.base = "http://127.0.0.1:9090"
		if cfg != nil {
			c.base = "http://" + cfg.Admin.Listen
		}
	}
	switch {
	case c.tokenFile != "":
		b, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return err
		}
		c.token, _, _ = strings.Cut(string(b), "\n")
	case os.Getenv("CRMGW_ADMIN_TOKEN") != "":
		c.token = os.Getenv("CRMGW_ADMIN_TOKEN")
	case cfg != nil && cfg.Admin.TokenFile != "":
		b, err := os.ReadFile(cfg.Admin.TokenFile)
		if err != nil {
			return err
		}
		c.token, _, _ = strings.Cut(string(b), "\n")
	case cfg != nil:
		c.token = cfg.Admin.Token
	}
	c.token = strings.TrimSpace(c.token)
	if c.token == "" {
		return errors.New("no token: pass --token-file, set CRMGW_ADMIN_TOKEN, or give --config with admin.token")
	}
	c.base = strings.TrimSuffix(c.base, "/")
	c.http = &http.Client{Timeout: 30 * time.Second}
	return nil
}

// call sends one request and decodes the JSON answer; a non-2xx answer is
// an error carrying the API's message.
func (c *adminClient) call(method, path string, body any) (map[string]any, error) {
	if err := c.resolve(); err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("%s %s: %s: answer is not JSON", method, path, resp.Status)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s: %v: %v", resp.Status, out["error"], out["message"])
	}
	return out, nil
}

func printJSON(cmd *cobra.Command, v any) {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func newApprovalsCmd() *cobra.Command {
	c := &adminClient{}
	cmd := &cobra.Command{
		Use:   "approvals",
		Short: "List, show, approve and deny export approval requests (admin API)",
		Long: `Approval requests are opened by the gateway when a policy asks for a second
person's approval (docs/approvals.md). Listing and showing work with the
admin token; approving and denying need the approver's own credential (an
OIDC token from a trusted issuer, or an API key) as the token, since four
eyes need to know whose eyes.`,
	}
	c.flags(cmd)
	var status, subject string
	list := &cobra.Command{
		Use:   "list",
		Short: "List approval requests, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if status != "" {
				q.Set("status", status)
			}
			if subject != "" {
				q.Set("subject", subject)
			}
			out, err := c.call("GET", "/admin/approvals?"+q.Encode(), nil)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tSUBJECT\tACTION\tAPPROVERS\tCREATED\tREASON")
			items, _ := out["approvals"].([]any)
			for _, it := range items {
				m, _ := it.(map[string]any)
				act, _ := m["action"].(map[string]any)
				who := m["subject_email"]
				if who == nil || who == "" {
					who = m["subject"]
				}
				fmt.Fprintf(tw, "%v\t%v\t%v\t%v %v\t%v\t%v\t%v\n", m["id"], m["status"], who, act["operation"], act["object"],
					joinAny(m["approvers"]), m["created"], m["reason"])
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&status, "status", "", "only this status: pending, approved, denied, used, expired")
	list.Flags().StringVar(&subject, "subject", "", "only this subject (its key, as shown by show)")
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one approval request",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := c.call("GET", "/admin/approvals/"+url.PathEscape(args[0]), nil)
			if err != nil {
				return err
			}
			printJSON(cmd, out)
			return nil
		},
	}
	decide := func(verb string) *cobra.Command {
		var comment string
		d := &cobra.Command{
			Use:   verb + " ID",
			Short: strings.ToUpper(verb[:1]) + verb[1:] + " an approval request (with the approver's own credential)",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				out, err := c.call("POST", "/admin/approvals/"+url.PathEscape(args[0])+"/"+verb, map[string]string{"comment": comment})
				if err != nil {
					return err
				}
				a, _ := out["approval"].(map[string]any)
				fmt.Fprintf(cmd.OutOrStdout(), "%v %v by %v\n", a["id"], a["status"], a["approver"])
				return nil
			},
		}
		d.Flags().StringVar(&comment, "comment", "", "why (kept in the audit trail)")
		return d
	}
	cmd.AddCommand(list, show, decide("approve"), decide("deny"))
	return cmd
}

func joinAny(v any) string {
	items, _ := v.([]any)
	parts := make([]string, 0, len(items))
	for _, it := range items {
		parts = append(parts, fmt.Sprint(it))
	}
	return strings.Join(parts, ",")
}

func newSubjectsCmd() *cobra.Command {
	c := &adminClient{}
	cmd := &cobra.Command{
		Use:   "subjects",
		Short: "Freeze, unfreeze, watch and unwatch subjects on every replica (admin API)",
		Long: `A frozen subject's requests are all refused, before the policy, on every
replica within a second. A watched subject's flags (e.g. departing) reach the
policies as input.subject.watch; the default policies then require approval
for its exports. A subject is named by its id (OIDC sub or API key id), its
email, or issuer|sub.`,
	}
	c.flags(cmd)
	var reason, watchFlag, unwatchFlag string
	mk := func(verb, short string, body func() any) *cobra.Command {
		return &cobra.Command{
			Use:   verb + " SUBJECT",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				out, err := c.call("POST", "/admin/subjects/"+url.PathEscape(args[0])+"/"+verb, body())
				if err != nil {
					return err
				}
				st, _ := out["state"].(map[string]any)
				fmt.Fprintf(cmd.OutOrStdout(), "%v: frozen=%v watch=[%s]\n", out["subject"], st["frozen"] == true, joinAny(st["watch"]))
				return nil
			},
		}
	}
	freeze := mk("freeze", "Refuse every request of a subject", func() any { return map[string]string{"reason": reason} })
	freeze.Flags().StringVar(&reason, "reason", "", "why (kept in the audit trail, never shown to the subject)")
	unfreeze := mk("unfreeze", "Lift a freeze", func() any { return nil })
	watch := mk("watch", "Add a watch flag to a subject", func() any { return map[string]string{"flag": watchFlag} })
	watch.Flags().StringVar(&watchFlag, "flag", "departing", "the flag")
	unwatch := mk("unwatch", "Remove a watch flag (all of them without --flag)", func() any { return map[string]string{"flag": unwatchFlag} })
	unwatch.Flags().StringVar(&unwatchFlag, "flag", "", "the flag (default: all)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List frozen and watched subjects",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := c.call("GET", "/admin/subjects", nil)
			if err != nil {
				return err
			}
			printJSON(cmd, out["subjects"])
			return nil
		},
	}
	cmd.AddCommand(freeze, unfreeze, watch, unwatch, list)
	return cmd
}
