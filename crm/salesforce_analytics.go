// Salesforce Analytics API (/analytics/reports): report runs.

package crm

import (
	"net/http"
	"strings"

	"github.com/crmgw/crmgw/internal/bodyshape"
)

var sfReport = ResponseShape{Format: bodyshape.JSON, Vendor: vendorSalesforce, Kind: bodyshape.Report}

// sfAnalytics classifies report runs. A report returns rows of whatever
// objects its report type joins, so the action's object is "Report" (with
// the report id); masking works on the report body itself.
func sfAnalytics(in *input, rest []string, res *Result) {
	m := in.method
	if len(rest) == 0 || !strings.EqualFold(rest[0], "reports") {
		return
	}
	report := func(id string) {
		res.Action = Action{Operation: OpReport, Category: CatExport, Object: "Report", RecordID: id, AllFields: true}
		res.Response = sfReport
	}
	switch len(rest) {
	case 1:
		if isRead(m) {
			res.Action = metaAction("Report", "")
			res.Response = sfMetadata
		}
	case 2:
		switch {
		case strings.EqualFold(rest[1], "query") && m == http.MethodPost:
			report("")
		case isRead(m):
			report(rest[1])
			// Without details a report answers summaries only.
			if v, n, ok := queryParam(in.rawQuery, "includeDetails"); ok && n == 1 && strings.EqualFold(v, "false") {
				res.Action.Category = CatRead
			}
		case m == http.MethodPost:
			// A run with metadata may name its detail columns.
			var body struct {
				ReportMetadata struct {
					DetailColumns []string `json:"detailColumns"`
				} `json:"reportMetadata"`
			}
			if len(in.body) > 0 && !strictObject(in.body, &body, "reportMetadata") {
				return
			}
			report(rest[1])
			res.Action.Fields = body.ReportMetadata.DetailColumns
		}
	case 3:
		switch {
		case strings.EqualFold(rest[2], "describe") && isRead(m):
			res.Action = metaAction("Report", rest[1])
			res.Response = sfMetadata
		case strings.EqualFold(rest[2], "instances") && m == http.MethodPost:
			report(rest[1])
		case strings.EqualFold(rest[2], "instances") && isRead(m):
			res.Action = metaAction("Report", rest[1])
			res.Response = sfMetadata
		}
	case 4:
		if strings.EqualFold(rest[2], "instances") && isRead(m) {
			report(rest[1])
		}
	}
}
