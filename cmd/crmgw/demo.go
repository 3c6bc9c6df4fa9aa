package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newDemoCmd keeps `crmgw demo` as a pointer to the demo program: the demo
// links a sample CRM and a test OIDC issuer that mints tokens for anyone,
// which have no place in the product binary.
func newDemoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "How to run the self-contained demo (go run ./examples/demo)",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Println("The demo is its own program, so that this binary carries no sample CRM or test IdP.")
			fmt.Println("From the repository root:  go run ./examples/demo")
			return exitError(2)
		},
	}
}
