// Package run is the process lifecycle shared by the crmgw command and the
// demo: build the gateway from a loaded configuration, serve until
// SIGTERM/SIGINT (SIGHUP reloads), shut down in order; and the logger and
// problem printing both use.
package run

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/crmgw/crmgw/config"
	"github.com/crmgw/crmgw/internal/confkey"
	"github.com/crmgw/crmgw/proxy"
)

// Serve runs a gateway until ctx ends or SIGTERM/SIGINT arrives; SIGHUP
// reloads the configuration file (proxy.Server.Reload). ready, if set, is
// called once the listeners are open.
func Serve(ctx context.Context, cfg *config.Config, log *zap.Logger, ready func(*proxy.Server)) error {
	if ctx == nil {
		ctx = context.Background()
	}
	// SIGHUP is caught from the start: one sent while the gateway starts
	// (a reload right after a start) is handled once it serves instead of
	// killing the process.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP)
	defer signal.Stop(sigs)
	srv, err := proxy.NewServer(ctx, cfg, log)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		_ = srv.Shutdown(ctx)
		return err
	}
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	if ready != nil {
		ready(srv)
	}
wait:
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down", zap.String("reason", "context done"))
			break wait
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				// Reload logs its outcome: what was applied, what needs a
				// restart, or why the file was refused (docs/deploy.md, "Reload").
				_ = srv.Reload(ctx)
				continue
			}
			log.Info("shutting down", zap.String("signal", sig.String()))
			break wait
		}
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		log.Error("shutdown", zap.Error(err))
		return err
	}
	log.Info("stopped")
	return nil
}

// PrintProblems prints configuration problems one per line.
func PrintProblems(w io.Writer, err error) {
	for _, e := range confkey.Flatten(err) {
		fmt.Fprintln(w, e)
	}
}

// NewLogger builds the zap logger the configuration asks for: JSON lines
// (the default) or console text, on stderr.
func NewLogger(c config.LogConfig) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, err
	}
	var zc zap.Config
	if c.Format == "console" {
		zc = zap.NewDevelopmentConfig()
		zc.DisableStacktrace = true
	} else {
		zc = zap.NewProductionConfig()
		zc.EncoderConfig.TimeKey = "time"
		zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
		zc.Sampling = nil
	}
	zc.Level = zap.NewAtomicLevelAt(level)
	zc.OutputPaths = []string{"stderr"}
	zc.ErrorOutputPaths = []string{"stderr"}
	return zc.Build()
}
