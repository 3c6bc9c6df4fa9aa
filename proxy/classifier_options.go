package proxy

import (
	"context"
	"net/http"
	"time"

	"github.com/crmgw/crmgw/config"
	"github.com/crmgw/crmgw/crm"
	"github.com/crmgw/crmgw/internal/jobstore"
	"github.com/crmgw/crmgw/ratelimit"
)

// jobBindingTTL is how long a bulk job stays bound to its creator in a
// shared store (Bulk API jobs are deleted by Salesforce after 7 days; a
// client that polls a day later starts a new job).
const jobBindingTTL = 24 * time.Hour

// classifierOptions wires the classifier of one upstream: bulk jobs the
// CRM is asked about, the shared job store when the rate limiter keeps its
// state in Redis (every replica then knows whose job is whose), and the
// CRM's describe metadata for the access plan's relationship names
// (docs/classification.md).
func (g *Gateway) classifierOptions(uc config.UpstreamConfig, u *upstream, rt http.RoundTripper) crm.Options {
	o := crm.Options{
		LookupJob: func(ctx context.Context, kind, jobID string) (string, error) {
			return crm.LookupJob(ctx, u.currentTarget(), rt, kind, jobID)
		},
	}
	if l, ok := g.limiter.(*ratelimit.Limiter); ok && l != nil {
		if rc, prefix := l.SharedRedis(); rc != nil {
			o.Jobs = jobstore.NewRedis(rc, prefix, uc.Name, jobBindingTTL)
		}
	}
	if uc.Type == "salesforce" && uc.Describe {
		o.Describe = func(ctx context.Context, object string) (crm.ObjectMetadata, error) {
			return crm.DescribeObject(ctx, u.currentTarget(), rt, object)
		}
	}
	return o
}
