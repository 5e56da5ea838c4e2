package sepa

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzReadStatusReport feeds the pain.002 reader arbitrary bytes. It must
// never panic, and a report it accepts must be written back by
// WriteStatusReport and read again unchanged.
func FuzzReadStatusReport(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "pain002_*.xml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed files in testdata: %v", err)
	}
	for _, name := range files {
		f.Add(readTestdata(f, filepath.Base(name)))
	}
	for _, s := range []string{
		"",
		"<Document/>",
		`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"><CstmrPmtStsRpt/></Document>`,
		`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"><CstmrPmtStsRpt><GrpHdr><MsgId>M</MsgId><CreDtTm>2026-01-02T03:04:05.6-07:00</CreDtTm></GrpHdr><OrgnlGrpInfAndSts><OrgnlMsgId>O</OrgnlMsgId><OrgnlMsgNmId>N</OrgnlMsgNmId><GrpSts>RJCT</GrpSts><StsRsnInf><Rsn><Cd>DU01</Cd></Rsn></StsRsnInf></OrgnlGrpInfAndSts></CstmrPmtStsRpt></Document>`,
		`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"><CstmrPmtStsRpt><GrpHdr><MsgId> &#x9;M&lt;&amp; </MsgId><CreDtTm>2026-01-02T03:04:05</CreDtTm></GrpHdr><OrgnlGrpInfAndSts><OrgnlMsgId>O</OrgnlMsgId><OrgnlMsgNmId>N</OrgnlMsgNmId></OrgnlGrpInfAndSts><OrgnlPmtInfAndSts><OrgnlPmtInfId>P</OrgnlPmtInfId><TxInfAndSts><OrgnlEndToEndId>E</OrgnlEndToEndId></TxInfAndSts></OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>`,
		"<Document><CstmrPmtStsRpt><GrpHdr><MsgId>",
		"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Document/>",
		"<!DOCTYPE d [<!ENTITY a \"&a;&a;\">]><Document>&a;</Document>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := ReadStatusReport(bytes.NewReader(data))
		if err != nil {
			if rep.MsgID != "" || rep.Transactions != nil {
				t.Fatalf("a refused file gave a report: %+v", rep)
			}
			return
		}
		var buf bytes.Buffer
		if err := WriteStatusReport(&buf, rep); err != nil {
			t.Fatalf("a report read could not be written: %v\n%+v", err, rep)
		}
		written := buf.String()
		again, err := ReadStatusReport(&buf)
		if err != nil {
			t.Fatalf("a written report could not be read: %v\n%s", err, written)
		}
		if diff := sameReport(again, rep); diff != "" {
			t.Fatalf("the report changed on a round trip: %s\n%s", diff, written)
		}
		var buf2 bytes.Buffer
		if err := WriteStatusReport(&buf2, again); err != nil || buf2.String() != written {
			t.Fatalf("writing the report again gave other bytes (%v):\n%s\n%s", err, written, buf2.String())
		}
	})
}

// FuzzRead feeds the pain.001 reader arbitrary bytes. It must never panic,
// and a message it accepts that is valid must be written and read back as
// Write cleans it.
func FuzzRead(f *testing.F) {
	for _, v := range []Version{Pain001V09, Pain001V03} {
		b := readTestdata(f, string(v)+".golden.xml")
		f.Add(b)
		f.Add(bytes.Replace(b, []byte("Zoe Muller-Agaoglu"), []byte("Zoé Müller_Ağaoğlu &amp; fils"), 1))
		f.Add(bytes.Replace(b, []byte("412.80"), []byte("412.805"), 1))
		f.Add(b[:len(b)/3])
	}
	f.Add([]byte(`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"><CstmrCdtTrfInitn/></Document>`))
	f.Add([]byte(strings.Repeat("<a>", 1000)))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Read(bytes.NewReader(data))
		if err != nil || Validate(m) != nil {
			return
		}
		var buf bytes.Buffer
		if err := Write(&buf, m); err != nil {
			t.Fatalf("a valid message could not be written: %v", err)
		}
		back, err := Read(&buf)
		if err != nil {
			t.Fatalf("a written message could not be read: %v\n%s", err, buf.String())
		}
		want := cleaned(m)
		want.CreatedAt = m.CreatedAt.Truncate(time.Second)
		if diff := sameMessage(back, want); diff != "" {
			t.Fatalf("the message changed on a round trip: %s", diff)
		}
	})
}
