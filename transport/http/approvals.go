package httptransport

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-kit/kit/endpoint"
	"github.com/google/uuid"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sepa"
)

// Who may do what in the approval workflow, its payment files and what the
// bank answers. ledgerctl checks the same lists before it acts. The store
// enforces the four-eyes rules itself (nobody approves a batch they
// computed or prepared, nobody approves twice): these lists only keep each
// role to its own routes.
var (
	// BatchSubmitters ask for the approval of a draft.
	BatchSubmitters = []Role{RolePreparer, RoleAdmin}
	// BatchApprovers approve, reject and release batches.
	BatchApprovers = []Role{RoleApprover}
	// BatchCancellers cancel a batch not yet released (or the unsent part of
	// a releasing one), with a reason.
	BatchCancellers = []Role{RolePreparer, RoleApprover, RoleAdmin}
	// FileListers see the payment files of a batch, without their content.
	FileListers = []Role{RolePreparer, RoleApprover, RoleController, RoleAuditor, RoleAdmin}
	// FileReaders read a payment file's bytes, which hold the payees' IBANs.
	FileReaders = []Role{RoleApprover, RoleController, RoleAdmin}
	// PayeeCorrectors record the payee a rejected payment goes to again,
	// and make the batches that pay it.
	PayeeCorrectors = []Role{RolePreparer, RoleAdmin}
	// ExceptionClosers close a payment exception without paying it again.
	ExceptionClosers = []Role{RoleApprover, RoleAdmin}
	// ReportAppliers apply a pain.002 status report received by hand.
	ReportAppliers = []Role{RoleController, RoleAdmin}
	// BankOperators trigger the bank outbox and the report fetcher.
	BankOperators = []Role{RoleAdmin}
	// AuditReaders read the audit trail.
	AuditReaders = []Role{RoleAuditor, RoleAdmin}
)

// Actor returns the person p as the approval workflow records them: their
// name, roles and the address the request came from.
func (p Principal) Actor() payments.Actor {
	roles := make([]string, len(p.Roles))
	for i, r := range p.Roles {
		roles[i] = string(r)
	}
	return payments.Actor{Name: p.Name, Roles: roles, Address: p.RemoteAddr}
}

// actorFrom is the caller of an authenticated request as an actor.
func actorFrom(ctx context.Context) (payments.Actor, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok || p.Name == "" {
		return payments.Actor{}, errs.E(errs.Unauthorized, "the request names no authenticated person")
	}
	return p.Actor(), nil
}

// transitionRequest moves one batch along the workflow. Text is the note
// (submit, approve) or the reason (reject, cancel).
type transitionRequest struct {
	ID   uuid.UUID
	Text string
}

// batchResponse is a batch after a transition, with its workflow; a new
// batch (reissue) answers 201 Created.
type batchResponse struct {
	payments.Batch
	created bool
	Err     error `json:"-"`
}

func (r batchResponse) Failed() error { return r.Err }

// StatusCode implements go-kit's StatusCoder.
func (r batchResponse) StatusCode() int {
	if r.created {
		return http.StatusCreated
	}
	return http.StatusOK
}

// Headers implements go-kit's Headerer: a new batch names its URL.
func (r batchResponse) Headers() http.Header {
	if !r.created {
		return nil
	}
	return http.Header{"Location": {"/v1/batches/" + r.ID.String()}}
}

// transition is one of the workflow's moves of a batch.
type transition func(ctx context.Context, id uuid.UUID, by payments.Actor, text string) (payments.Batch, error)

// makeTransitionEndpoint serves one move, named verb in its errors.
func makeTransitionEndpoint(verb string, move transition) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(transitionRequest)
		by, err := actorFrom(ctx)
		if err != nil {
			return batchResponse{Err: err}, nil
		}
		b, err := move(ctx, req.ID, by, req.Text)
		if err != nil {
			return batchResponse{Err: fmt.Errorf("%s batch %s: %w", verb, req.ID, err)}, nil
		}
		return batchResponse{Batch: b}, nil
	}
}

// readFiles are the payment files, whose reads showing IBANs in full are
// written to the audit trail.
type readFiles interface {
	payments.PaymentFiles
	payments.ReadLog
}

// readExceptions are the payment exceptions, whose reads are written to
// the audit trail.
type readExceptions interface {
	payments.PaymentExceptions
	payments.ReadLog
}

func makeSubmitEndpoint(svc payments.BatchWorkflow) endpoint.Endpoint {
	return makeTransitionEndpoint("submit", svc.Submit)
}

// approveRequest is an approval, with an optional budget override.
type approveRequest struct {
	ID       uuid.UUID
	Note     string
	Override payments.BudgetOverride
}

func makeApproveEndpoint(svc payments.BatchWorkflow) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(approveRequest)
		by, err := actorFrom(ctx)
		if err != nil {
			return batchResponse{Err: err}, nil
		}
		b, err := svc.ApproveOverriding(ctx, req.ID, by, req.Note, req.Override)
		if err != nil {
			return batchResponse{Err: fmt.Errorf("approve batch %s: %w", req.ID, err)}, nil
		}
		return batchResponse{Batch: b}, nil
	}
}

// decodeApproveRequest reads the {id}, an optional {"note"} and an
// optional budget override {"force_budget": true, "budget_reason"}.
func decodeApproveRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	id, err := batchID(r)
	if err != nil {
		return nil, err
	}
	var b struct {
		Note         string `json:"note"`
		ForceBudget  bool   `json:"force_budget"`
		BudgetReason string `json:"budget_reason"`
	}
	if err := decodeOptionalBody(r, &b); err != nil {
		return nil, err
	}
	if b.ForceBudget {
		if err := required("budget_reason", b.BudgetReason, "say why the budget is overridden, for the audit trail"); err != nil {
			return nil, err
		}
	} else if b.BudgetReason != "" {
		return nil, errs.Field("budget_reason", "is given without force_budget")
	}
	return approveRequest{ID: id, Note: b.Note, Override: payments.BudgetOverride{Force: b.ForceBudget, Reason: b.BudgetReason}}, nil
}

func makeRejectEndpoint(svc payments.BatchWorkflow) endpoint.Endpoint {
	return makeTransitionEndpoint("reject", svc.Reject)
}

func makeCancelEndpoint(svc payments.BatchWorkflow) endpoint.Endpoint {
	return makeTransitionEndpoint("cancel", svc.Cancel)
}

func makeReleaseEndpoint(svc payments.BatchWorkflow) endpoint.Endpoint {
	return makeTransitionEndpoint("release", func(ctx context.Context, id uuid.UUID, by payments.Actor, _ string) (payments.Batch, error) {
		return svc.Release(ctx, id, by)
	})
}

type listFilesRequest struct{ BatchID uuid.UUID }

type listFilesResponse struct {
	Files []payments.PaymentFile `json:"files"`
	Err   error                  `json:"-"`
}

func (r listFilesResponse) Failed() error { return r.Err }

func makeListFilesEndpoint(svc payments.PaymentFiles) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(listFilesRequest)
		files, err := svc.Files(ctx, req.BatchID)
		if err != nil {
			return listFilesResponse{Err: fmt.Errorf("files of batch %s: %w", req.BatchID, err)}, nil
		}
		if files == nil {
			files = []payments.PaymentFile{}
		}
		return listFilesResponse{Files: files}, nil
	}
}

type fileContentRequest struct{ MsgID string }

// fileContentResponse is a pain.001 file, written as its own bytes (see
// encodeFileContent), not as JSON.
type fileContentResponse struct {
	File    payments.PaymentFile
	Content []byte
	SHA256  string // of Content, as sent
	Err     error
}

func (r fileContentResponse) Failed() error { return r.Err }

func makeFileContentEndpoint(svc readFiles) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(fileContentRequest)
		f, content, err := svc.FileContent(ctx, req.MsgID)
		if err != nil {
			return fileContentResponse{Err: fmt.Errorf("payment file %s: %w", req.MsgID, err)}, nil
		}
		// The bytes were hashed when the file was written; bytes that no
		// longer match were altered since, and must not reach anyone.
		sum := sha256.Sum256(content)
		got := hex.EncodeToString(sum[:])
		if f.SHA256 != "" && !strings.EqualFold(f.SHA256, got) {
			return fileContentResponse{Err: fmt.Errorf("payment file %s: its bytes hash to %s, recorded %s", req.MsgID, got, f.SHA256)}, nil
		}
		// The file holds every payee's IBAN: each beneficiary it pays is
		// recorded as read in full.
		bens, err := svc.FileBeneficiaries(ctx, req.MsgID)
		if err != nil {
			return fileContentResponse{Err: fmt.Errorf("payment file %s: %w", req.MsgID, err)}, nil
		}
		reads := make([]payments.Read, len(bens))
		for i, b := range bens {
			reads[i] = payments.Read{What: payments.ReadFile, ObjectID: req.MsgID, Beneficiary: b, Fields: []string{payments.FieldIBAN}}
		}
		if len(reads) == 0 {
			// A file whose payments were not recorded by beneficiary is
			// still recorded as read.
			reads = []payments.Read{{What: payments.ReadFile, ObjectID: req.MsgID, Fields: []string{payments.FieldIBAN}}}
		}
		if err := recordReads(ctx, svc, reads); err != nil {
			return fileContentResponse{Err: fmt.Errorf("payment file %s: %w", req.MsgID, err)}, nil
		}
		return fileContentResponse{File: f, Content: content, SHA256: got}, nil
	}
}

// encodeFileContent writes a payment file's bytes as application/xml, with
// their SHA-256 in X-Content-Sha256 so that the reader can check them.
func encodeFileContent(ctx context.Context, w http.ResponseWriter, response any) error {
	r := response.(fileContentResponse)
	if r.Err != nil {
		encodeError(ctx, r.Err, w)
		return nil
	}
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(r.Content)))
	h.Set("X-Content-Sha256", r.SHA256)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": r.File.MsgID + ".xml"}))
	// The file holds IBANs: no cache keeps a copy.
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(r.Content)
	return err
}

// fileInfoResponse is what is recorded of a payment file, without its
// bytes: what the listing of its batch shows of it.
type fileInfoResponse struct {
	File payments.PaymentFile `json:"file"`
	Err  error                `json:"-"`
}

func (r fileInfoResponse) Failed() error { return r.Err }

// makeFileInfoEndpoint serves what is recorded of one payment file (its
// batch, totals, SHA-256 and where it stands), for a reader of its bytes to
// check them and say what they are.
func makeFileInfoEndpoint(svc payments.PaymentFiles) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(fileContentRequest)
		f, _, err := svc.FileContent(ctx, req.MsgID)
		if err != nil {
			return fileInfoResponse{Err: fmt.Errorf("payment file %s: %w", req.MsgID, err)}, nil
		}
		return fileInfoResponse{File: f}, nil
	}
}

// The bodies of the workflow's routes.
type (
	noteBody struct {
		Note string `json:"note"`
	}
	reasonBody struct {
		Reason string `json:"reason"`
	}
	payeeBody struct {
		Name   string `json:"name"`
		IBAN   string `json:"iban"`
		BIC    string `json:"bic"`
		Reason string `json:"reason"`
	}
)

// decodeOptionalBody is decodeBody for a route whose body fields are all
// optional: no body at all counts as {}.
func decodeOptionalBody(r *http.Request, v any) error {
	br := bufio.NewReader(r.Body)
	if _, err := br.Peek(1); errors.Is(err, io.EOF) {
		return nil
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{br, r.Body}
	return decodeBody(r, v)
}

// required refuses an empty or blank text.
func required(field, text, why string) error {
	if strings.TrimSpace(text) == "" {
		return errs.Field(field, "is required: %s", why)
	}
	return nil
}

// decodeNoteTransition reads the {id} and an optional {"note"}.
func decodeNoteTransition(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	id, err := batchID(r)
	if err != nil {
		return nil, err
	}
	var b noteBody
	if err := decodeOptionalBody(r, &b); err != nil {
		return nil, err
	}
	return transitionRequest{ID: id, Text: b.Note}, nil
}

// decodeReasonTransition reads the {id} and a {"reason"}, which is
// required: a rejection or a cancellation says why.
func decodeReasonTransition(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	id, err := batchID(r)
	if err != nil {
		return nil, err
	}
	var b reasonBody
	if err := decodeOptionalBody(r, &b); err != nil {
		return nil, err
	}
	if err := required("reason", b.Reason, "say why, for the preparer and the audit trail"); err != nil {
		return nil, err
	}
	return transitionRequest{ID: id, Text: b.Reason}, nil
}

// decodeReleaseRequest reads the {id}; the body, if any, is {}.
func decodeReleaseRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	id, err := batchID(r)
	if err != nil {
		return nil, err
	}
	var b struct{}
	if err := decodeOptionalBody(r, &b); err != nil {
		return nil, err
	}
	return transitionRequest{ID: id}, nil
}

func decodeListFilesRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	id, err := batchID(r)
	if err != nil {
		return nil, err
	}
	return listFilesRequest{BatchID: id}, nil
}

func decodeFileContentRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	id := r.PathValue("msgId")
	if err := sepa.CheckID("msg_id", id); err != nil {
		return nil, err
	}
	return fileContentRequest{MsgID: id}, nil
}

// approvalRoutes are the routes of the approval workflow, the payment files,
// the payment exceptions, the bank and the audit trail. Each admits the
// roles of its list above; the store checks the four-eyes rules.
func (a *api) approvalRoutes(svc payments.Approvals) []route {
	return []route{
		{pattern: "POST /v1/batches/{id}/submit", allow: BatchSubmitters, handler: a.server(makeSubmitEndpoint(svc), decodeNoteTransition)},
		{pattern: "POST /v1/batches/{id}/approve", allow: BatchApprovers, handler: a.server(makeApproveEndpoint(svc), decodeApproveRequest)},
		{pattern: "POST /v1/batches/{id}/reject", allow: BatchApprovers, handler: a.server(makeRejectEndpoint(svc), decodeReasonTransition)},
		{pattern: "POST /v1/batches/{id}/cancel", allow: BatchCancellers, handler: a.server(makeCancelEndpoint(svc), decodeReasonTransition)},
		{pattern: "POST /v1/batches/{id}/release", allow: BatchApprovers, handler: a.server(makeReleaseEndpoint(svc), decodeReleaseRequest)},
		{pattern: "GET /v1/batches/{id}/files", allow: FileListers, handler: a.server(makeListFilesEndpoint(svc), decodeListFilesRequest)},
		{pattern: "GET /v1/files/{msgId}", allow: FileReaders, handler: a.serverEncoding(makeFileContentEndpoint(svc), decodeFileContentRequest,
			encodeFileContent)},
		{pattern: "GET /v1/files/{msgId}/info", allow: FileListers, handler: a.server(makeFileInfoEndpoint(svc), decodeFileContentRequest)},
		{pattern: "GET /v1/payment-exceptions", allow: AllRoles(), handler: a.server(makeListExceptionsEndpoint(svc), decodeListExceptionsRequest)},
		{pattern: "POST /v1/payment-exceptions/{id}/payee", allow: PayeeCorrectors, handler: a.server(makeCorrectPayeeEndpoint(svc), decodeCorrectPayeeRequest)},
		{pattern: "POST /v1/payment-exceptions/{id}/close", allow: ExceptionClosers, handler: a.server(makeCloseExceptionEndpoint(svc), decodeCloseExceptionRequest)},
		{pattern: "POST /v1/payment-exceptions/reissue", allow: PayeeCorrectors, handler: a.server(makeReissueEndpoint(svc), decodeReissueRequest)},
		// A status report lists every payment of a file: up to the size a
		// pain.002 may have, not the API's usual body limit.
		{pattern: "POST /v1/status-reports", allow: ReportAppliers, maxBody: a.opts.MaxReportBytes,
			handler: a.server(makeApplyReportEndpoint(svc), decodeApplyReportRequest)},
		{pattern: "POST /v1/bank/send", allow: BankOperators, handler: a.server(makeBankEndpoint("send the queued payment files", svc.SendQueued), decodeBankRequest)},
		{pattern: "POST /v1/bank/poll", allow: BankOperators, handler: a.server(makeBankEndpoint("fetch the status reports", svc.FetchReports), decodeBankRequest)},
		{pattern: "GET /v1/audit", allow: AuditReaders, handler: a.server(makeAuditEndpoint(svc), decodeAuditRequest)},
	}
}
