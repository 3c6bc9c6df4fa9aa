// The sample CRM's Salesforce Analytics reports (docs/samplecrm.md).

package samplecrm

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
)

func (s *Server) sfReport(w http.ResponseWriter, r *http.Request, id string) {
	if !strings.HasPrefix(id, "00O") || (len(id) != 15 && len(id) != 18) {
		sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	details := r.Method == "POST" || r.URL.Query().Get("includeDetails") == "true"
	if v := r.URL.Query().Get("includeDetails"); v == "false" {
		details = false
	}
	contacts := s.objects["contact"].snapshot()
	accounts := s.objects["account"]
	c := s.objects["contact"]
	cols := []*field{c.field("FirstName"), c.field("LastName"), c.field("Email"), c.field("MobilePhone")}
	accCol := c.field("AccountId").col
	n := 0
	for _, rw := range contacts.rows {
		if !rw.deleted {
			n++
		}
	}
	shown := min(n, 2000)
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	b := make([]byte, 0, 8192)
	b = append(b, `{"attributes":{"reportId":`...)
	b = appendString(b, id)
	b = append(b, `,"reportName":"All Contacts","type":"Report"},"allData":`+strconv.FormatBool(n <= 2000)+`,"hasDetailRows":`+strconv.FormatBool(details)+`,"reportMetadata":{"id":`...)
	b = appendString(b, id)
	b = append(b, `,"name":"All Contacts","reportFormat":"TABULAR","reportType":{"type":"ContactList","label":"Contacts & Accounts"},"detailColumns":["FIRST_NAME","LAST_NAME","EMAIL","PHONE1","ACCOUNT.NAME"]},"factMap":{"T!T":{"rows":[`...)
	pc := s.newPacer(r, w, bw)
	if details {
		k := 0
		at := accounts.snapshot()
		for _, rw := range contacts.rows {
			if rw.deleted {
				continue
			}
			if k >= shown {
				break
			}
			if k > 0 {
				b = append(b, ',')
			}
			k++
			b = append(b, `{"dataCells":[`...)
			for j, f := range cols {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendCell(b, rw.v[f.col], rw.v[f.col])
			}
			b = append(b, ',')
			accID := rw.v[accCol]
			if i, ok := at.byID[accID]; ok && accID != "" {
				b = appendCell(b, at.rows[i].v[2], accID)
			} else {
				b = appendCell(b, "", "")
			}
			b = append(b, "]}"...)
			if len(b) > 16<<10 || pc.d > 0 {
				var err error
				if b, err = flushScratch(bw, b); err != nil {
					return
				}
			}
			if !pc.next() {
				return
			}
		}
	}
	b = append(b, `],"aggregates":[{"label":"`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `","value":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, "}]}}}"...)
	_, _ = bw.Write(b)
	_ = bw.Flush()
}

func appendCell(b []byte, label, value string) []byte {
	b = append(b, `{"label":`...)
	if label == "" {
		b = append(b, `"-"`...)
	} else {
		b = appendString(b, label)
	}
	b = append(b, `,"value":`...)
	b = appendValue(b, kString, value)
	return append(b, '}')
}
