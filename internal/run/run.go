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
// reloads what can be reloaded. ready, if set, is called once the listeners
// are open.
func Serve(ctx context.Context, cfg *config.Config, log *zap.Logger, ready func(*proxy.Server)) error {
	if ctx == nil {
		ctx = context.Background()
	}
	srv, err := proxy.NewServer(ctx, cfg, log)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		_ = srv.Shutdown(ctx)
		return err
	}
	if ready != nil {
		ready(srv)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
wait:
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down", zap.String("reason", "context done"))
			break wait
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				if err := srv.Reload(ctx); err != nil {
					log.Error("reload failed; the previous policies stay in force", zap.Error(err))
				} else {
					log.Info("reloaded")
				}
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
