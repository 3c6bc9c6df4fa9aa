package crm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// describeTimeout bounds one describe call: it runs while the caller's
// request waits for its access plan.
const describeTimeout = 5 * time.Second

// DescribeObject fetches a Salesforce object's describe
// (sobjects/{object}/describe) from the CRM at base, through rt (the
// gateway's own credential), and keeps what the access plan needs: lookups
// (relationshipName -> referenceTo), child relationships
// (relationshipName -> childSObject) and field names. It is what
// Options.Describe calls for an upstream with describe on. An object name
// that could leave its path segment, a status other than 200 or an answer
// that is not JSON is an error.
func DescribeObject(ctx context.Context, base *url.URL, rt http.RoundTripper, object string) (ObjectMetadata, error) {
	if object == "" || strings.ContainsAny(object, "/?#%. ") {
		return ObjectMetadata{}, errors.New("invalid object name")
	}
	ctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	target := strings.TrimSuffix(base.String(), "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target+"/services/data/v60.0/sobjects/"+object+"/describe", nil)
	if err != nil {
		return ObjectMetadata{}, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return ObjectMetadata{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ObjectMetadata{}, fmt.Errorf("describe %s: upstream status %d", object, resp.StatusCode)
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
		return ObjectMetadata{}, fmt.Errorf("describe %s: %w", object, err)
	}
	md := ObjectMetadata{Lookups: map[string][]string{}, Children: map[string]string{}}
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
