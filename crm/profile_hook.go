package crm

import "github.com/crmgw/crmgw/internal/bodyshape"

// ProfileClassifier classifies the requests of a generic upstream from a
// CRM profile (package crm/profile, docs/profiles.md). It receives the
// request with Path holding the decoded, normalised path, and res with
// Method, Path, DecodedPath and RawQuery set; it fills the action and the
// response shape (and may set Body and RawQuery to what is forwarded). An
// error wrapping ErrRejected refuses the request.
type ProfileClassifier interface {
	ClassifyProfile(req Request, res *Result) error
}

// Reject returns an error wrapping ErrRejected with reason, for profile
// classifiers.
func Reject(reason string) error { return reject(reason) }

// UnknownAction is the action of a request nothing recognises.
func UnknownAction() Action { return unknownAction }

func (c *Classifier) classifyGeneric(in *input, res *Result) error {
	if c.opts.Profile == nil || in.sub {
		res.Action = unknownAction
		res.Response = ResponseShape{Format: bodyshape.JSON, Vendor: vendorGeneric, Kind: bodyshape.Unknown}
		return nil
	}
	return c.opts.Profile.ClassifyProfile(Request{
		Method: in.method, Path: in.path, RawQuery: in.rawQuery,
		Header: in.header, Body: in.body, Subject: in.subject,
	}, res)
}
