package identity

import (
	"math"
	"time"
)

// maxNumericDate is the largest exp/iat/nbf accepted (year 5138): larger
// values are not dates an IdP writes, and would overflow time arithmetic.
const maxNumericDate = 1e11

// checkTokenTimes checks a verified token's exp, nbf and iat (RFC 7519 §4.1:
// NumericDate, a JSON number; a string, a boolean or null is refused, not
// ignored) against now with skew leeway, and bounds its lifetime: exp - iat
// and exp - now may not exceed maxLife (docs/identity.md, "How a JWT is
// verified"). It returns exp, or a detail saying what is wrong.
func checkTokenTimes(claims map[string]any, now time.Time, skew, maxLife time.Duration, requireIAT bool) (time.Time, string) {
	exp, present, ok := numericDateClaim(claims, "exp")
	switch {
	case !present:
		return time.Time{}, "token has no expiry"
	case !ok:
		return time.Time{}, "token exp is not a NumericDate"
	case !now.Before(exp.Add(skew)):
		return time.Time{}, "token expired"
	case exp.Sub(now) > maxLife+skew:
		return time.Time{}, "token lifetime exceeds max_token_lifetime (exp too far ahead)"
	}
	nbf, present, ok := numericDateClaim(claims, "nbf")
	switch {
	case present && !ok:
		return time.Time{}, "token nbf is not a NumericDate"
	case present && now.Add(skew).Before(nbf):
		return time.Time{}, "token not yet valid"
	}
	iat, present, ok := numericDateClaim(claims, "iat")
	switch {
	case !present && requireIAT:
		return time.Time{}, "token has no iat"
	case present && !ok:
		return time.Time{}, "token iat is not a NumericDate"
	case present && now.Add(skew).Before(iat):
		return time.Time{}, "token issued in the future"
	case present && exp.Sub(iat) > maxLife:
		return time.Time{}, "token lifetime exceeds max_token_lifetime (exp - iat)"
	}
	return exp, ""
}

// numericDateClaim reads a NumericDate claim. present is false when the
// claim is absent; ok is false when it is present but not a finite number
// in [0, maxNumericDate].
func numericDateClaim(claims map[string]any, name string) (t time.Time, present, ok bool) {
	v, present := claims[name]
	if !present {
		return time.Time{}, false, false
	}
	f, isNum := v.(float64)
	if !isNum || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, true, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, true
}
