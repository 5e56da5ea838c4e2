package banksim

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/ofii/allowances/internal/jsonstrict"
	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments/sepa"
)

// ServeHTTP serves the bank's API and its admin routes:
//
//	POST /v1/files                    a pain.001 file (X-Msg-Id, X-Content-Sha256)
//	GET  /v1/files/{msgId}/reports    its pain.002 reports, oldest first
//	GET  /v1/statements?iban=&date=   the camt.053 statement of a day
//	POST /sim/faults, GET /sim/faults the injected faults (JSON of Faults)
//	POST /sim/clock, GET /sim/clock   the bank's date: {"today":"2026-11-02"}
//	GET  /sim/files                   the files received
//
// Faults affect the /v1 routes only. With a token configured every route
// wants it as a bearer token.
func (b *Bank) ServeHTTP(w http.ResponseWriter, r *http.Request) { b.mux.ServeHTTP(w, r) }

func (b *Bank) routes() *http.ServeMux {
	api := http.NewServeMux()
	api.HandleFunc("POST /v1/files", b.handleSubmit)
	api.HandleFunc("GET /v1/files/{msgId}/reports", b.handleReports)
	api.HandleFunc("GET /v1/statements", b.handleStatements)
	api.HandleFunc("/", handleNotFound)

	admin := http.NewServeMux()
	admin.HandleFunc("GET /sim/faults", b.handleGetFaults)
	admin.HandleFunc("POST /sim/faults", b.handleSetFaults)
	admin.HandleFunc("GET /sim/clock", b.handleGetClock)
	admin.HandleFunc("POST /sim/clock", b.handleSetClock)
	admin.HandleFunc("GET /sim/files", b.handleFiles)
	admin.HandleFunc("/", handleNotFound)

	root := http.NewServeMux()
	root.Handle("/v1/", b.withFaults(b.withAuth(api)))
	root.Handle("/sim/", b.withAuth(admin))
	root.HandleFunc("/", handleNotFound)
	return root
}

// problem is the body of every answer but a success.
type problem struct {
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeProblem(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, problem{Code: code, Message: message})
}

func handleNotFound(w http.ResponseWriter, r *http.Request) {
	writeProblem(w, http.StatusNotFound, "NOTFOUND", "no route "+r.Method+" "+r.URL.Path)
}

// withAuth wants the configured bearer token.
func (b *Bank) withAuth(next http.Handler) http.Handler {
	if b.cfg.Token == "" {
		return next
	}
	want := []byte("Bearer " + b.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="banksim"`)
			writeProblem(w, http.StatusUnauthorized, "UNAUTHORIZED", "a valid bearer token is required")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withFaults counts the requests and injects the configured faults.
func (b *Bank) withFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.requests++
		f := b.faults
		fail := !f.Outage && f.ErrorRate > 0 && b.rng.Float64() < f.ErrorRate
		b.mu.Unlock()

		if f.Latency > 0 {
			t := time.NewTimer(f.Latency)
			select {
			case <-r.Context().Done(): // the client gave up: nothing to answer
				t.Stop()
				return
			case <-t.C:
			}
		}
		switch {
		case f.Outage && f.Drop:
			// Closes the connection without an answer, quietly.
			panic(http.ErrAbortHandler)
		case f.Outage:
			writeProblem(w, http.StatusServiceUnavailable, "UNAVAILABLE", "the bank is down (simulated outage)")
		case fail:
			if f.LoseAnswers {
				next.ServeHTTP(discard{header: http.Header{}}, r)
			}
			writeProblem(w, http.StatusServiceUnavailable, "UNAVAILABLE", "the bank failed (simulated error)")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// discard is a ResponseWriter that loses the answer.
type discard struct{ header http.Header }

func (d discard) Header() http.Header         { return d.header }
func (d discard) Write(p []byte) (int, error) { return len(p), nil }
func (d discard) WriteHeader(int)             {}

func (b *Bank) handleSubmit(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, sepa.MaxFileSize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeProblem(w, http.StatusRequestEntityTooLarge, "FF01",
				fmt.Sprintf("the file is larger than %d MiB", sepa.MaxFileSize>>20))
			return
		}
		writeProblem(w, http.StatusBadRequest, "FF01", "the file could not be read: "+err.Error())
		return
	}
	res := b.receive(body, r.Header.Get("X-Msg-Id"), r.Header.Get("X-Content-Sha256"))
	if res.status == http.StatusBadRequest {
		b.log.Info("banksim file refused", "msg_id", res.msgID, "code", res.code, "reason", res.message)
	}
	if res.status != http.StatusCreated {
		writeProblem(w, res.status, res.code, res.message)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		MsgID      string    `json:"msg_id"`
		ReceivedAt time.Time `json:"received_at"`
	}{res.msgID, res.receivedAt})
}

func (b *Bank) handleReports(w http.ResponseWriter, r *http.Request) {
	msgID := r.PathValue("msgId")
	b.mu.Lock()
	f, ok := b.files[msgID]
	var docs []document
	if ok {
		docs = slices.Clone(f.reports)
	}
	b.mu.Unlock()
	if !ok {
		writeProblem(w, http.StatusNotFound, "NOTFOUND", fmt.Sprintf("no file with MsgId %q was received", msgID))
		return
	}
	writeJSON(w, http.StatusOK, docs)
}

func (b *Bank) handleStatements(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	iban := q.Get("iban")
	if iban == "" {
		writeProblem(w, http.StatusBadRequest, "INVALID", "the query parameter iban is required")
		return
	}
	day, err := ledger.ParseDate(q.Get("date"))
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "INVALID", "the query parameter date: "+err.Error())
		return
	}
	docs, known, err := b.statementsOf(iban, day)
	switch {
	case err != nil:
		b.log.Error("banksim cannot produce a statement", "iban", mask.MaskIBAN(iban), "date", day.String(), "err", err)
		writeProblem(w, http.StatusInternalServerError, "INTERNAL", "the bank could not produce the statement")
	case !known:
		writeProblem(w, http.StatusNotFound, "NOTFOUND", "the bank keeps no account "+mask.MaskIBAN(iban))
	default:
		writeJSON(w, http.StatusOK, docs)
	}
}

// faultsJSON is Faults as the admin routes read and write it, the latency
// as a Go duration ("250ms").
type faultsJSON struct {
	ErrorRate   float64 `json:"error_rate"`
	LoseAnswers bool    `json:"lose_answers"`
	Latency     string  `json:"latency"`
	Outage      bool    `json:"outage"`
	Drop        bool    `json:"drop"`
}

// maxJSONBytes bounds the JSON bodies of the simulator's control routes.
const maxJSONBytes = 1 << 16

// decodeJSON reads r's body, one JSON value of at most maxJSONBytes, into
// v with the service's strict decoder: no unknown field, nothing after the
// value.
func decodeJSON(r *http.Request, v any) error {
	data, err := jsonstrict.Read(r.Body, maxJSONBytes)
	if err != nil {
		return err
	}
	return jsonstrict.DecodeBody(data, v)
}

func (b *Bank) handleGetFaults(w http.ResponseWriter, _ *http.Request) {
	b.mu.Lock()
	f := b.faults
	b.mu.Unlock()
	writeJSON(w, http.StatusOK, faultsJSON{f.ErrorRate, f.LoseAnswers, f.Latency.String(), f.Outage, f.Drop})
}

func (b *Bank) handleSetFaults(w http.ResponseWriter, r *http.Request) {
	var in faultsJSON
	if err := decodeJSON(r, &in); err != nil {
		writeProblem(w, http.StatusBadRequest, "INVALID", "the body is not JSON of the faults: "+err.Error())
		return
	}
	if in.ErrorRate < 0 || in.ErrorRate > 1 {
		writeProblem(w, http.StatusBadRequest, "INVALID", "error_rate is a share from 0 to 1")
		return
	}
	var latency time.Duration
	if in.Latency != "" {
		d, err := time.ParseDuration(in.Latency)
		if err != nil || d < 0 {
			writeProblem(w, http.StatusBadRequest, "INVALID", `latency is a positive duration such as "250ms"`)
			return
		}
		latency = d
	}
	b.SetFaults(Faults{ErrorRate: in.ErrorRate, LoseAnswers: in.LoseAnswers, Latency: latency, Outage: in.Outage, Drop: in.Drop})
	b.handleGetFaults(w, r)
}

type clockJSON struct {
	Today ledger.Date `json:"today"`
}

func (b *Bank) handleGetClock(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, clockJSON{b.Today()})
}

func (b *Bank) handleSetClock(w http.ResponseWriter, r *http.Request) {
	var in clockJSON
	if err := decodeJSON(r, &in); err != nil {
		writeProblem(w, http.StatusBadRequest, "INVALID", `the body is {"today": "YYYY-MM-DD"}: `+err.Error())
		return
	}
	b.SetToday(in.Today)
	b.handleGetClock(w, r)
}

// fileJSON is a received file as GET /sim/files lists it.
type fileJSON struct {
	MsgID        string    `json:"msg_id"`
	PmtInfID     string    `json:"pmt_inf_id"`
	ReceivedAt   time.Time `json:"received_at"`
	Transactions int       `json:"transactions"`
	Accepted     int       `json:"accepted"`
	Rejected     int       `json:"rejected"`
	Status       string    `json:"status"`
	Reason       string    `json:"reason,omitempty"`
	Attempts     int       `json:"attempts"`
	Duplicates   int       `json:"duplicates"`
	EndToEndIDs  []string  `json:"end_to_end_ids"`
}

func (b *Bank) handleFiles(w http.ResponseWriter, _ *http.Request) {
	files := b.Received()
	out := make([]fileJSON, 0, len(files))
	for _, f := range files {
		fj := fileJSON{
			MsgID: f.MsgID, PmtInfID: f.PmtInfID, ReceivedAt: f.ReceivedAt,
			Transactions: len(f.Transactions), Status: string(f.GroupStatus), Reason: f.GroupReason,
			Attempts: f.Attempts, Duplicates: f.Duplicates, EndToEndIDs: f.EndToEndIDs(),
		}
		for _, tx := range f.Transactions {
			if tx.Accepted {
				fj.Accepted++
			} else {
				fj.Rejected++
			}
		}
		out = append(out, fj)
	}
	writeJSON(w, http.StatusOK, out)
}
