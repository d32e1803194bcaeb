package loadtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// Template is one report's JSON with its seq and its upstream check's status left open, so a
// benchmark can send rising seqs and status flips without encoding a report per operation.
// It is immutable and safe for concurrent use.
type Template struct {
	head, mid, tail []byte // body = head + seq + mid + status + tail
}

const (
	seqMark    = 7_777_777_777_777_777_777
	statusMark = "@@status@@"
)

// NewTemplate encodes rep and opens its seq and the status of checks[UpstreamCheck].
func NewTemplate(rep *protocol.Report) (*Template, error) {
	if len(rep.Checks) <= UpstreamCheck {
		return nil, fmt.Errorf("template: report has %d checks, want more than %d", len(rep.Checks), UpstreamCheck)
	}
	cp := *rep
	cp.Checks = append([]protocol.CheckResult(nil), rep.Checks...)
	cp.Seq = seqMark
	cp.Checks[UpstreamCheck].Status = statusMark
	body, err := json.Marshal(&cp)
	if err != nil {
		return nil, fmt.Errorf("template: encode report: %w", err)
	}
	seqText := []byte(`"seq":` + strconv.FormatUint(seqMark, 10))
	statusText := []byte(`"status":"` + statusMark + `"`)
	i := bytes.Index(body, seqText)
	k := bytes.Index(body, statusText)
	if i < 0 || k < i || bytes.Count(body, seqText) != 1 || bytes.Count(body, statusText) != 1 {
		return nil, errors.New("template: cannot find the seq and status fields")
	}
	i += len(`"seq":`)
	k += len(`"status":"`)
	return &Template{
		head: body[:i],
		mid:  body[i+len(seqText)-len(`"seq":`) : k],
		tail: body[k+len(statusMark):],
	}, nil
}

// Append appends the report with seq and the upstream check's status st to dst.
func (t *Template) Append(dst []byte, seq uint64, st status.Check) []byte {
	dst = append(dst, t.head...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, t.mid...)
	dst = append(dst, st...)
	return append(dst, t.tail...)
}
