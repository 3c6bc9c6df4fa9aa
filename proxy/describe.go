package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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
			return describeObject(ctx, u, rt, object)
		}
	}
	return o
}

// describeObject fetches sobjects/{object}/describe with the gateway's
// credential and keeps what the access plan needs: lookups
// (relationshipName -> referenceTo), child relationships
// (relationshipName -> childSObject) and field names.
func describeObject(ctx context.Context, u *upstream, rt http.RoundTripper, object string) (crm.ObjectMetadata, error) {
	if object == "" || strings.ContainsAny(object, "/?#%. ") {
		return crm.ObjectMetadata{}, errors.New("invalid object name")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	target := strings.TrimSuffix(u.currentTarget().String(), "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target+"/services/data/v60.0/sobjects/"+object+"/describe", nil)
	if err != nil {
		return crm.ObjectMetadata{}, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return crm.ObjectMetadata{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return crm.ObjectMetadata{}, fmt.Errorf("describe %s: upstream status %d", object, resp.StatusCode)
	}
	var d struct {
		Fields []struct {
			Name             string   `json:"name"`
			RelationshipName *string  `json:"relationshipName"`
			ReferenceTo      []string `json:"referenceTo"`
		} `json:"fields"`
		ChildRelationships []struct {
			RelationshipName *string `json:"relationshipName"`
			ChildSObject     string  `json:"childSObject"`
		} `json:"childRelationships"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&d); err != nil {
		return crm.ObjectMetadata{}, fmt.Errorf("describe %s: %w", object, err)
	}
	md := crm.ObjectMetadata{Lookups: map[string][]string{}, Children: map[string]string{}}
	for _, f := range d.Fields {
		md.Fields = append(md.Fields, f.Name)
		if f.RelationshipName != nil && *f.RelationshipName != "" && len(f.ReferenceTo) > 0 {
			md.Lookups[*f.RelationshipName] = f.ReferenceTo
		}
	}
	for _, c := range d.ChildRelationships {
		if c.RelationshipName != nil && *c.RelationshipName != "" && c.ChildSObject != "" {
			md.Children[*c.RelationshipName] = c.ChildSObject
		}
	}
	return md, nil
}
