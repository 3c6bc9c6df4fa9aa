package proxy

import (
	"github.com/crmgw/crmgw/approval"
	"github.com/crmgw/crmgw/config"
	"github.com/crmgw/crmgw/ratelimit"
)

// newApprovals builds the approvals manager in the rate limiter's store:
// memory for one node, the same Redis for replicas (docs/approvals.md).
func newApprovals(cfg *config.Config, g *Gateway) (*approval.Manager, error) {
	ac := cfg.Approvals
	var store approval.Store = approval.NewMemoryStore()
	if cfg.Ratelimit.Store == ratelimit.StoreRedis {
		c, err := ratelimit.NewRedisClient(cfg.Ratelimit)
		if err != nil {
			return nil, err
		}
		// Under the limiter's key prefix; the {tag} keeps every approvals
		// key in one Cluster slot (unless the prefix has a tag of its own,
		// which does the same).
		store = approval.NewRedisStorePrefix(c, cfg.Ratelimit.Redis.KeyPrefix+"approvals:{a}:", ac.Retention, true)
	}
	g.approvalBase.Store(ac.URLBase)
	g.approvals = approval.NewManager(store, approval.Options{
		PendingTTL: ac.PendingTTL,
		DefaultTTL: ac.DefaultTTL,
		Refresh:    ac.Refresh,
		OnStep:     g.approvalStep,
	})
	g.page = newApprovalPage(g, ac.OIDC, cfg.Masking.HMACKey)
	return g.approvals, nil
}
