// Package policies holds crmgw's default Rego policies and their data, and
// embeds them so the demo (examples/demo) can run without copying them by hand.
package policies

import "embed"

// FS holds the default policies, their tests and data files.
//
//go:embed *.rego *.json
var FS embed.FS
