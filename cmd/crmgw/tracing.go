package main

import (
	"github.com/crmgw/crmgw/internal/otlpexport"
	"github.com/crmgw/crmgw/proxy"
)

// The product binary exports traces over OTLP (docs/tracing.md); the
// exporters are linked here, not by the proxy package, so that programs
// that never export (the demo) build without them.
func init() { proxy.UseSpanExporter(otlpexport.New) }
