package bench

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/ofii/allowances/payments/sepa"
	"github.com/ofii/allowances/reconcile"
)

// The hostile files of step k, generated as they are read and never held:
// a pain.002 of the largest size the API accepts whose elements nest
// without end, and a camt.053 whose first entry's label is 200 MB long.
// Each must be refused, and the reader must allocate less than
// hostileBound while it reads, whatever the file's size.
const (
	hostilePain002Bytes = sepa.MaxFileSize
	hostileCamt053Bytes = 200_000_000
	// hostileBound bounds the bytes a reader allocates before it refuses a
	// hostile file: a few buffers of MaxTokenBytes and the path of open
	// elements, not the file.
	hostileBound = 16 << 20
)

// hostile measures (k): reading the two hostile files, each refused. Its
// rows give the bytes read before the refusal (N), the peak heap and RSS
// sampled while reading, and in Note the bytes allocated; a row whose file
// was accepted or whose allocations passed hostileBound counts an error.
func (e *env) hostile() []Result {
	nest := len("<OrgnlPmtInfAndSts></OrgnlPmtInfAndSts>")
	pain002 := nestedPain002((hostilePain002Bytes - len(hostilePain002Head) - len(hostilePain002Tail)) / nest)
	camt053 := longLabelCamt053(hostileCamt053Bytes - len(hostileCamt053Head) - len(hostileCamt053Tail))
	return []Result{
		e.refusal("pain.002 nested without end", pain002, func(r io.Reader) error {
			_, err := sepa.ReadStatusReport(r)
			return err
		}),
		e.refusal("camt.053 with a 200 MB label", camt053, func(r io.Reader) error {
			_, err := reconcile.Check(reconcile.NewCamt053Reader(r, reconcile.Options{}))
			return err
		}),
	}
}

// refusal reads the hostile file g with read and measures it.
func (e *env) refusal(name string, g *generated, read func(io.Reader) error) Result {
	e.prog.Step("k "+name, 0)
	defer e.prog.Done()
	size := g.size()
	runtime.GC()
	debug.FreeOSMemory()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	exact := resetPeakRSS()
	rss := startRSSSampler(10 * time.Millisecond)
	h := startHeapSampler(5 * time.Millisecond)
	start := time.Now()
	err := read(g)
	took := time.Since(start)
	inuse, sys := h.stop()
	peak := rss.stop()
	runtime.ReadMemStats(&after)
	if hwm, ok := procStatus("VmHWM"); exact && ok {
		peak = max(peak, hwm)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	r := Result{
		Step: "k", Name: "hostile " + name, N: g.read, Seconds: took.Seconds(), Rate: rate(g.read, took), Unit: "bytes read/s",
		PeakHeapInuse: max(inuse, before.HeapInuse+alloc), PeakHeapSys: sys, PeakRSS: peak,
	}
	verdict := "refused"
	switch {
	case err == nil:
		verdict, r.Errors = "ACCEPTED", 1
	case alloc > hostileBound:
		verdict, r.Errors = "refused over the bound", 1
	}
	var fe *reconcile.FormatError
	why := err
	if errors.As(err, &fe) {
		why = fe
	}
	r.Note = fmt.Sprintf("%s after %d of %d bytes; %.2f MiB allocated while reading (bound %d MiB), peak RSS %.1f MiB; %.200v",
		verdict, g.read, size, float64(alloc)/(1<<20), hostileBound>>20, float64(peak)/(1<<20), why)
	return r
}

// nestedPain002 returns a pain.002 whose first block holds a block, which
// holds a block... depth times.
func nestedPain002(depth int) *generated {
	return newGenerated(part{s: hostilePain002Head, n: 1}, part{s: "<OrgnlPmtInfAndSts>", n: depth},
		part{s: "</OrgnlPmtInfAndSts>", n: depth}, part{s: hostilePain002Tail, n: 1})
}

// longLabelCamt053 returns a camt.053 of one entry whose label
// (AddtlNtryInf) has n bytes.
func longLabelCamt053(n int) *generated {
	return newGenerated(part{s: hostileCamt053Head, n: 1}, part{s: "A", n: n}, part{s: hostileCamt053Tail, n: 1})
}

// part is a string repeated n times.
type part struct {
	s string
	n int
}

// generated reads its parts in order, holding none but the current one.
type generated struct {
	parts []part
	off   int   // in the current repetition of parts[0]
	read  int64 // bytes read so far
	total int64 // bytes of the whole file
}

func newGenerated(parts ...part) *generated {
	g := &generated{parts: parts}
	for _, p := range parts {
		g.total += int64(len(p.s)) * int64(p.n)
	}
	return g
}

// size returns the bytes of the whole file.
func (g *generated) size() int64 { return g.total }

func (g *generated) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) && len(g.parts) > 0 {
		p := &g.parts[0]
		if p.n == 0 {
			g.parts = g.parts[1:]
			continue
		}
		c := copy(b[n:], p.s[g.off:])
		n += c
		if g.off += c; g.off == len(p.s) {
			g.off = 0
			p.n--
		}
	}
	g.read += int64(n)
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

const hostilePain002Head = `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"><CstmrPmtStsRpt><GrpHdr><MsgId>HOSTILE</MsgId><CreDtTm>2026-12-01T10:00:00Z</CreDtTm></GrpHdr><OrgnlGrpInfAndSts><OrgnlMsgId>M</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId></OrgnlGrpInfAndSts>
`

const hostilePain002Tail = "</CstmrPmtStsRpt></Document>\n"

var hostileCamt053Head = strings.Join([]string{
	`<?xml version="1.0" encoding="UTF-8"?>`,
	`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>`,
	`<GrpHdr><MsgId>HOSTILE</MsgId><CreDtTm>2026-12-01T21:30:00+01:00</CreDtTm></GrpHdr>`,
	`<Stmt><Id>HOSTILE-1</Id><CreDtTm>2026-12-01T21:30:00+01:00</CreDtTm><Acct><Id><IBAN>` + benchAccount + `</IBAN></Id><Ccy>EUR</Ccy></Acct>`,
	`<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">100.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-12-01</Dt></Dt></Bal>`,
	`<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">90.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-12-01</Dt></Dt></Bal>`,
	`<Ntry><Amt Ccy="EUR">10.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-12-01</Dt></BookgDt><AddtlNtryInf>`,
}, "\n")

const hostileCamt053Tail = "</AddtlNtryInf></Ntry></Stmt></BkToCstmrStmt></Document>\n"
