// Command samplecrm runs the sample CRM (Salesforce and Zoho CRM API shapes
// over generated data) as a standalone HTTP server, for demos and load tests:
//
//	samplecrm -listen 127.0.0.1:9901 -token T
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/crmgw/crmgw/examples/samplecrm"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "samplecrm:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("samplecrm", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9901", "address to listen on")
	token := fs.String("token", "", "access token accepted for Salesforce (Bearer) and Zoho (Zoho-oauthtoken); empty accepts any")
	zohoToken := fs.String("zoho-token", "", "Zoho access token, if different from -token")
	records := fs.Int("records", 1000, "number of contacts to generate")
	seed := fs.Int64("seed", 1, "seed of the generated data")
	pageSize := fs.Int("page-size", 2000, "Salesforce query page size")
	clientID := fs.String("client-id", "", "OAuth client id accepted by the token endpoints")
	clientSecret := fs.String("client-secret", "", "OAuth client secret accepted by the token endpoints")
	refreshToken := fs.String("refresh-token", "", "refresh token accepted by the token endpoints")
	delay := fs.Duration("delay", 0, "pause between streamed records (test-only slow upstream)")
	record := fs.Bool("record", false, "keep a log of received requests in memory (off for long runs)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *zohoToken == "" {
		*zohoToken = *token
	}
	maxRec := -1
	if *record {
		maxRec = 10000
	}
	h := samplecrm.New(samplecrm.Options{
		Records: *records, Seed: *seed, PageSize: *pageSize, Delay: *delay,
		SalesforceToken: *token, ZohoToken: *zohoToken,
		ClientID: *clientID, ClientSecret: *clientSecret, RefreshToken: *refreshToken,
		MaxRecorded: maxRec,
	})
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	fmt.Fprintf(os.Stderr, "samplecrm: serving %d contacts on http://%s\n", *records, *listen)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
