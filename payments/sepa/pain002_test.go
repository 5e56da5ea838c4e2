package sepa

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ofii/allowances/internal/errs"
)

// sampleReport is what the bank simulator answers to sampleMessage: the
// block partly accepted, two transactions rejected.
func sampleReport() StatusReport {
	return StatusReport{
		MsgID:         "SIM-STS-0001",
		CreatedAt:     time.Date(2026, 4, 7, 8, 15, 0, 0, time.FixedZone("CEST", 2*3600)),
		OriginalMsgID: "OFII-2026-04-0001",
		OriginalMsgNm: "pain.001.001.09",
		GroupStatus:   StatusPART,
		PaymentInfos: []PmtInfStatus{
			{OriginalPmtInfID: "PI-2026-04-0001", Status: StatusPART},
		},
		Transactions: []TxStatus{
			{OriginalPmtInfID: "PI-2026-04-0001", OriginalEndToEndID: "ADA-2026-03-000001", Status: StatusACCP},
			{OriginalPmtInfID: "PI-2026-04-0001", OriginalEndToEndID: "ADA-2026-03-000002", Status: StatusRJCT, Reason: "AC04"},
			{OriginalPmtInfID: "PI-2026-04-0001", OriginalEndToEndID: "ADA-2026-03-000003", Status: StatusRJCT, Reason: "AM04"},
		},
	}
}

// sameReport reports how got and want differ, comparing times by value.
func sameReport(got, want StatusReport) string {
	if !got.CreatedAt.Equal(want.CreatedAt) {
		return fmt.Sprintf("CreatedAt %v, want %v", got.CreatedAt, want.CreatedAt)
	}
	got.CreatedAt, want.CreatedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		return fmt.Sprintf("\n got %+v\nwant %+v", got, want)
	}
	return ""
}

func TestWriteStatusReportGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteStatusReport(&buf, sampleReport()); err != nil {
		t.Fatal(err)
	}
	out := buf.Bytes()
	golden(t, "pain002_written.golden.xml", out)
	mustValidateXSD(t, "pain.002.001.10.xsd", out)

	got, err := ReadStatusReport(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if diff := sameReport(got, sampleReport()); diff != "" {
		t.Error(diff)
	}
}

func TestWriteStatusReportShapes(t *testing.T) {
	tests := []struct {
		name   string
		report StatusReport
	}{
		{"GroupOnly", StatusReport{
			MsgID: "S1", CreatedAt: time.Date(2026, 4, 2, 9, 31, 40, 500_000_000, time.UTC),
			OriginalMsgID: "OFII-1", OriginalMsgNm: "pain.001.001.03", GroupStatus: StatusRJCT, GroupReason: "FF01",
		}},
		{"NoStatusAnywhere", StatusReport{
			MsgID: "S2", CreatedAt: time.Date(2026, 4, 2, 9, 0, 0, 0, time.FixedZone("", -5*3600)),
			OriginalMsgID: "OFII-2", OriginalMsgNm: "pain.001.001.09",
			PaymentInfos: []PmtInfStatus{{OriginalPmtInfID: "PI-A"}, {OriginalPmtInfID: "PI-B", Status: StatusACSC}},
			Transactions: []TxStatus{
				{OriginalPmtInfID: "PI-A", OriginalEndToEndID: "E-1"},
				{OriginalPmtInfID: "PI-A", OriginalEndToEndID: "E-2", Status: StatusRJCT, Reason: "MD07"},
				{OriginalPmtInfID: "PI-B", OriginalEndToEndID: "E-3", Status: StatusACSC},
			},
		}},
		{"ReasonWithoutStatus", StatusReport{
			MsgID: "S3", CreatedAt: time.Date(2026, 4, 2, 9, 0, 0, 0, time.UTC),
			OriginalMsgID: "OFII-3", OriginalMsgNm: "pain.001.001.09", GroupReason: "NARR",
		}},
		{"AnyIdentifierText", StatusReport{
			MsgID: "Réf <bank> & \"co\"", CreatedAt: time.Date(2026, 4, 2, 9, 0, 0, 0, time.UTC),
			OriginalMsgID: "OFII-4", OriginalMsgNm: "pain.001.001.09", GroupStatus: StatusRCVD,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteStatusReport(&buf, tt.report); err != nil {
				t.Fatal(err)
			}
			mustValidateXSD(t, "pain.002.001.10.xsd", buf.Bytes())
			got, err := ReadStatusReport(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if diff := sameReport(got, tt.report); diff != "" {
				t.Error(diff)
			}
		})
	}
}

func TestWriteStatusReportRejects(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *StatusReport)
		field  string
	}{
		{"ErrNoMsgID", func(r *StatusReport) { r.MsgID = "" }, "msg_id"},
		{"ErrLongMsgID", func(r *StatusReport) { r.MsgID = strings.Repeat("x", 36) }, "msg_id"},
		{"ErrSpacedMsgID", func(r *StatusReport) { r.MsgID = " S1" }, "msg_id"},
		{"ErrControlCharacter", func(r *StatusReport) { r.MsgID = "S\x01" }, "msg_id"},
		{"ErrNoCreatedAt", func(r *StatusReport) { r.CreatedAt = time.Time{} }, "created_at"},
		{"ErrNoOriginalMsgID", func(r *StatusReport) { r.OriginalMsgID = "" }, "original_msg_id"},
		{"ErrNoOriginalMsgNm", func(r *StatusReport) { r.OriginalMsgNm = "" }, "original_msg_nm"},
		{"ErrGroupStatus", func(r *StatusReport) { r.GroupStatus = "DONE" }, "group_status"},
		{"ErrGroupReason", func(r *StatusReport) { r.GroupReason = "AC044" }, "group_reason"},
		{"ErrBlockStatus", func(r *StatusReport) { r.PaymentInfos[0].Status = "rjct" }, "payment_infos[0].status"},
		{"ErrDuplicateBlock", func(r *StatusReport) { r.PaymentInfos = append(r.PaymentInfos, r.PaymentInfos[0]) }, "payment_infos[1].original_pmt_inf_id"},
		{"ErrTxPART", func(r *StatusReport) { r.Transactions[1].Status = StatusPART }, "transactions[1].status"},
		{"ErrTxReason", func(r *StatusReport) { r.Transactions[2].Reason = "am04" }, "transactions[2].reason"},
		{"ErrTxNoEndToEndID", func(r *StatusReport) { r.Transactions[0].OriginalEndToEndID = "" }, "transactions[0].original_end_to_end_id"},
		{"ErrTxUnknownBlock", func(r *StatusReport) { r.Transactions[0].OriginalPmtInfID = "PI-X" }, "transactions[0].original_pmt_inf_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sampleReport()
			tt.change(&r)
			var buf bytes.Buffer
			err := WriteStatusReport(&buf, r)
			if got := fieldOf(err); got != tt.field || !errs.Is(err, errs.Invalid) {
				t.Errorf("WriteStatusReport = %v (field %q), want an invalid error on %s", err, got, tt.field)
			}
			if buf.Len() != 0 {
				t.Errorf("WriteStatusReport wrote %d bytes of an invalid report", buf.Len())
			}
		})
	}
}

func TestReadStatusReportSamples(t *testing.T) {
	paris := time.FixedZone("", 2*3600)
	tests := []struct {
		file string
		want StatusReport
		xsd  bool
	}{
		{"pain002_tx_rejects.xml", StatusReport{
			MsgID:         "BDF-STS-20260407-0001",
			CreatedAt:     time.Date(2026, 4, 7, 8, 15, 2, 250_000_000, paris),
			OriginalMsgID: "OFII-2026-04-0001",
			OriginalMsgNm: "pain.001.001.09",
			PaymentInfos:  []PmtInfStatus{{OriginalPmtInfID: "PI-2026-04-0001", Status: StatusACCP}},
			Transactions: []TxStatus{
				{OriginalEndToEndID: "ADA-2026-03-000002", OriginalPmtInfID: "PI-2026-04-0001", Status: StatusRJCT, Reason: "AC04"},
				{OriginalEndToEndID: "ADA-2026-03-000003", OriginalPmtInfID: "PI-2026-04-0001", Status: StatusRJCT, Reason: "AM04"},
			},
		}, true},
		{"pain002_group_reject.xml", StatusReport{
			MsgID:         "BDF-STS-20260402-0007",
			CreatedAt:     time.Date(2026, 4, 2, 9, 31, 40, 0, time.UTC),
			OriginalMsgID: "OFII-2026-04-0001",
			OriginalMsgNm: "pain.001.001.09",
			GroupStatus:   StatusRJCT,
			GroupReason:   "FF01",
		}, true},
		{"pain002_partial.xml", StatusReport{
			MsgID:         "BDF-STS-20260408-0003",
			CreatedAt:     time.Date(2026, 4, 8, 17, 45, 0, 0, time.UTC),
			OriginalMsgID: "OFII-2026-04-0002",
			OriginalMsgNm: "pain.001.001.03",
			GroupStatus:   StatusPART,
			PaymentInfos: []PmtInfStatus{
				{OriginalPmtInfID: "PI-2026-04-0002", Status: StatusPART},
				{OriginalPmtInfID: "PI-2026-04-0003"},
			},
			Transactions: []TxStatus{
				{OriginalEndToEndID: "ADA-2026-03-000010", OriginalPmtInfID: "PI-2026-04-0002", Status: StatusACSC},
				{OriginalEndToEndID: "ADA-2026-03-000011", OriginalPmtInfID: "PI-2026-04-0002", Status: StatusRJCT, Reason: "MD07"},
				{OriginalEndToEndID: "ADA-2026-03-000020", OriginalPmtInfID: "PI-2026-04-0003", Status: StatusACSP},
			},
		}, true},
		{"pain002_v03.xml", StatusReport{
			MsgID:         "SG-STS-0001",
			CreatedAt:     time.Date(2026, 4, 7, 6, 0, 0, 0, paris),
			OriginalMsgID: "OFII-2026-04-0001",
			OriginalMsgNm: "pain.001.001.03",
			GroupStatus:   StatusACTC,
		}, false},
		{"pain002_written.golden.xml", sampleReport(), true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b := readTestdata(t, tt.file)
			if tt.xsd {
				mustValidateXSD(t, "pain.002.001.10.xsd", b)
			}
			got, err := ReadStatusReport(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if diff := sameReport(got, tt.want); diff != "" {
				t.Error(diff)
			}
		})
	}
}

func TestStatusOf(t *testing.T) {
	read := func(name string) StatusReport {
		r, err := ReadStatusReport(bytes.NewReader(readTestdata(t, name)))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	rejects, group, partial := read("pain002_tx_rejects.xml"), read("pain002_group_reject.xml"), read("pain002_partial.xml")
	tests := []struct {
		name        string
		report      StatusReport
		pmtInf, e2e string
		status      Status
		reason      string
	}{
		{"OwnRowAC04", rejects, "PI-2026-04-0001", "ADA-2026-03-000002", StatusRJCT, "AC04"},
		{"OwnRowAM04", rejects, "PI-2026-04-0001", "ADA-2026-03-000003", StatusRJCT, "AM04"},
		{"NoRowTakesBlock", rejects, "PI-2026-04-0001", "ADA-2026-03-000001", StatusACCP, ""},
		{"OtherBlockNothing", rejects, "PI-OTHER", "ADA-2026-03-000002", "", ""},
		{"GroupRejectAll1", group, "PI-2026-04-0001", "ADA-2026-03-000001", StatusRJCT, "FF01"},
		{"GroupRejectAll3", group, "PI-2026-04-0001", "ADA-2026-03-000003", StatusRJCT, "FF01"},
		{"PartialSettled", partial, "PI-2026-04-0002", "ADA-2026-03-000010", StatusACSC, ""},
		{"PartialDeceased", partial, "PI-2026-04-0002", "ADA-2026-03-000011", StatusRJCT, "MD07"},
		{"PartialUnlistedTakesBlockPART", partial, "PI-2026-04-0002", "ADA-2026-03-000012", StatusPART, ""},
		{"PartialOtherBlockRow", partial, "PI-2026-04-0003", "ADA-2026-03-000020", StatusACSP, ""},
		{"BlockWithoutStatusTakesGroup", partial, "PI-2026-04-0003", "ADA-2026-03-000021", StatusPART, ""},
		{"EndToEndIDOfAnotherBlock", partial, "PI-2026-04-0003", "ADA-2026-03-000011", StatusPART, ""},
		{"RowWithoutStatus", StatusReport{
			GroupStatus:  StatusACTC,
			PaymentInfos: []PmtInfStatus{{OriginalPmtInfID: "P", Status: StatusACCP, Reason: "NARR"}},
			Transactions: []TxStatus{{OriginalPmtInfID: "P", OriginalEndToEndID: "E"}},
		}, "P", "E", StatusACCP, "NARR"},
		{"SeveralRowsFurthest", StatusReport{
			PaymentInfos: []PmtInfStatus{{OriginalPmtInfID: "P"}},
			Transactions: []TxStatus{
				{OriginalPmtInfID: "P", OriginalEndToEndID: "E", Status: StatusACSP},
				{OriginalPmtInfID: "P", OriginalEndToEndID: "E", Status: StatusRJCT, Reason: "AM04"},
				{OriginalPmtInfID: "P", OriginalEndToEndID: "E", Status: StatusACTC},
			},
		}, "P", "E", StatusRJCT, "AM04"},
		{"Empty", StatusReport{}, "P", "E", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, reason := tt.report.StatusOf(tt.pmtInf, tt.e2e)
			if st != tt.status || reason != tt.reason {
				t.Errorf("StatusOf(%s, %s) = %q, %q; want %q, %q", tt.pmtInf, tt.e2e, st, reason, tt.status, tt.reason)
			}
		})
	}
}

func TestReadStatusReportRejects(t *testing.T) {
	good := string(readTestdata(t, "pain002_tx_rejects.xml"))
	const (
		root = "Document/CstmrPmtStsRpt"
		grp  = root + "/OrgnlGrpInfAndSts"
		tx1  = root + "/OrgnlPmtInfAndSts[1]/TxInfAndSts[1]"
	)
	tests := []struct {
		name  string
		doc   string
		field string
		want  string // a part of the message
		code  errs.Code
	}{
		{"ErrUnknownStatusFile", string(readTestdata(t, "pain002_bad_status.xml")), tx1 + "/TxSts", `"ACPT" is not a pain.002 status`, errs.Invalid},
		{"ErrNoOrgnlMsgIDFile", string(readTestdata(t, "pain002_no_orgnlmsgid.xml")), grp + "/OrgnlMsgId", "is missing", errs.Invalid},
		{"ErrTruncatedFile", string(readTestdata(t, "pain002_truncated.xml")), root + "/OrgnlPmtInfAndSts[1]/TxInfAndSts[2]", "malformed", errs.Invalid},
		{"ErrUnknownGroupStatus", strings.Replace(good, "<OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId>", "<OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId><GrpSts>OK</GrpSts>", 1), grp + "/GrpSts", "not a pain.002 status", errs.Invalid},
		{"ErrUnknownBlockStatus", strings.Replace(good, "<PmtInfSts>ACCP</PmtInfSts>", "<PmtInfSts>accp</PmtInfSts>", 1), root + "/OrgnlPmtInfAndSts[1]/PmtInfSts", "not a pain.002 status", errs.Invalid},
		{"ErrTxPART", strings.Replace(good, "<TxSts>RJCT</TxSts>", "<TxSts>PART</TxSts>", 1), tx1 + "/TxSts", "PART", errs.Invalid},
		{"ErrTxPATC", strings.Replace(good, "<TxSts>RJCT</TxSts>", "<TxSts>PATC</TxSts>", 1), tx1 + "/TxSts", "PATC is the status of a group", errs.Invalid},
		{"ErrLongReason", strings.Replace(good, "<Cd>AM04</Cd>", "<Cd>AM044</Cd>", 1), root + "/OrgnlPmtInfAndSts[1]/TxInfAndSts[2]/StsRsnInf[1]/Rsn/Cd", "1 to 4", errs.Invalid},
		{"ErrReasonCharacters", strings.Replace(good, "<Cd>AC04</Cd>", "<Cd>a-4</Cd>", 1), tx1 + "/StsRsnInf[1]/Rsn/Cd", "capital letters and digits", errs.Invalid},
		{"ErrNoEndToEndID", strings.Replace(good, "<OrgnlEndToEndId>ADA-2026-03-000002</OrgnlEndToEndId>", "", 1), tx1 + "/OrgnlEndToEndId", "is missing", errs.Invalid},
		{"ErrLongEndToEndID", strings.Replace(good, "ADA-2026-03-000002", strings.Repeat("9", 36), 1), tx1 + "/OrgnlEndToEndId", "36 characters", errs.Invalid},
		{"ErrNoPmtInfID", strings.Replace(good, "<OrgnlPmtInfId>PI-2026-04-0001</OrgnlPmtInfId>", "", 1), root + "/OrgnlPmtInfAndSts[1]/OrgnlPmtInfId", "is missing", errs.Invalid},
		{"ErrDuplicateBlock", strings.Replace(good, "</OrgnlPmtInfAndSts>", "</OrgnlPmtInfAndSts><OrgnlPmtInfAndSts><OrgnlPmtInfId>PI-2026-04-0001</OrgnlPmtInfId></OrgnlPmtInfAndSts>", 1), root + "/OrgnlPmtInfAndSts[2]/OrgnlPmtInfId", "earlier", errs.Invalid},
		// The report is read as a stream, but its faults come in the order of
		// a whole read: the headers' before the blocks', a block's own before
		// its transactions', and a syntax error anywhere first.
		{"ErrHeaderBeforeBlock", strings.Replace(strings.Replace(good, "<MsgId>BDF-STS-20260407-0001</MsgId>", "", 1), "<TxSts>RJCT</TxSts>", "<TxSts>PART</TxSts>", 1),
			root + "/GrpHdr/MsgId", "is missing", errs.Invalid},
		{"ErrBlockBeforeTransaction", strings.Replace(strings.Replace(good, "<PmtInfSts>ACCP</PmtInfSts>", "<PmtInfSts>accp</PmtInfSts>", 1), "<TxSts>RJCT</TxSts>", "<TxSts>PART</TxSts>", 1),
			root + "/OrgnlPmtInfAndSts[1]/PmtInfSts", "not a pain.002 status", errs.Invalid},
		{"ErrSyntaxAfterBlockFault", strings.Replace(strings.Replace(good, "<TxSts>RJCT</TxSts>", "<TxSts>PART</TxSts>", 1), "</CstmrPmtStsRpt>", "</CstmrPmtStsRpt", 1),
			root, "malformed", errs.Invalid},
		{"ErrNoMsgID", strings.Replace(good, "<MsgId>BDF-STS-20260407-0001</MsgId>", "", 1), root + "/GrpHdr/MsgId", "is missing", errs.Invalid},
		{"ErrNoCreDtTm", strings.Replace(good, "<CreDtTm>2026-04-07T08:15:02.250+02:00</CreDtTm>", "", 1), root + "/GrpHdr/CreDtTm", "is missing", errs.Invalid},
		{"ErrCreDtTm", strings.Replace(good, "2026-04-07T08:15:02.250+02:00", "07/04/2026", 1), root + "/GrpHdr/CreDtTm", "not a date and time", errs.Invalid},
		{"ErrOffset", strings.Replace(good, "2026-04-07T08:15:02.250+02:00", "2026-04-07T08:15:02+15:00", 1), root + "/GrpHdr/CreDtTm", "14 hours", errs.Invalid},
		{"ErrYearZero", strings.Replace(good, "2026-04-07T08:15:02.250+02:00", "0000-04-07T08:15:02Z", 1), root + "/GrpHdr/CreDtTm", "year 0", errs.Invalid},
		{"ErrNoOrgnlMsgNmID", strings.Replace(good, "<OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId>", "", 1), grp + "/OrgnlMsgNmId", "is missing", errs.Invalid},
		{"ErrNamespace", strings.Replace(good, "pain.002.001.10", "camt.053.001.08", 1), "Document", "namespace", errs.Invalid},
		{"ErrNoNamespace", strings.Replace(good, ` xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"`, "", 1), "Document", "namespace", errs.Invalid},
		{"ErrPain001", string(readTestdata(t, "pain.001.001.09.golden.xml")), "Document", "namespace", errs.Invalid},
		{"ErrMismatchedTag", strings.Replace(good, "</TxSts>", "</TxStatus>", 1), tx1 + "/TxSts", "malformed", errs.Invalid},
		{"ErrEntity", strings.Replace(good, "<!-- The block", `<!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]><!-- The block`, 1) + "", "", "", errs.Invalid},
		{"ErrTrailing", good + "<x/>", "", "after its root element", errs.Invalid},
		{"ErrEmpty", "", "", "empty", errs.Invalid},
		{"ErrNotXML", "%PDF-1.4", "", "malformed", errs.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := ReadStatusReport(strings.NewReader(tt.doc))
			if tt.name == "ErrEntity" {
				// A DOCTYPE is skipped; an entity it declares is never
				// expanded, and using one is an error.
				if err != nil {
					t.Fatalf("a DOCTYPE that is not used: %v", err)
				}
				_, err = ReadStatusReport(strings.NewReader(strings.Replace(tt.doc, "<AddtlInf>Compte cloture", "<AddtlInf>&x;", 1)))
				if fieldOf(err) != tx1+"/StsRsnInf[1]/AddtlInf" {
					t.Fatalf("an external entity: %v (report %+v)", err, rep)
				}
				return
			}
			if err == nil {
				t.Fatalf("ReadStatusReport accepted the file: %+v", rep)
			}
			if got := fieldOf(err); got != tt.field || !errs.Is(err, tt.code) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ReadStatusReport = %v (field %q), want a %s error on %q saying %q", err, got, tt.code, tt.field, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "read pain.002: ") {
				t.Errorf("the error %q does not say what was being done", err)
			}
		})
	}
}

func TestReadStatusReportTooLarge(t *testing.T) {
	_, err := ReadStatusReport(io.LimitReader(io.MultiReader(strings.NewReader(head002), &comments{}), MaxFileSize+1))
	if !errs.Is(err, errs.TooLarge) {
		t.Fatalf("ReadStatusReport of %d bytes = %v, want a too_large error", MaxFileSize+1, err)
	}
}

func ExampleStatusReport_StatusOf() {
	r := StatusReport{
		GroupStatus:  StatusPART,
		PaymentInfos: []PmtInfStatus{{OriginalPmtInfID: "PI-1", Status: StatusACCP}},
		Transactions: []TxStatus{{OriginalPmtInfID: "PI-1", OriginalEndToEndID: "E-2", Status: StatusRJCT, Reason: "AC04"}},
	}
	for _, e2e := range []string{"E-1", "E-2"} {
		st, reason := r.StatusOf("PI-1", e2e)
		fmt.Println(e2e, st, ReasonText(reason), ReasonAction(reason))
	}
	// Output:
	// E-1 ACCP  review
	// E-2 RJCT AC04: the account is closed fix_payee
}

// TestReadStatusReportEveryCode: a report with a status of the external
// code list beyond the nine of the schema's own list (ACCC on the block, a
// cancellation, a partial group) is read whole, its rejections included;
// the statuses say what became of each payment.
func TestReadStatusReportEveryCode(t *testing.T) {
	good := string(readTestdata(t, "pain002_tx_rejects.xml"))
	doc := strings.Replace(good, "<PmtInfSts>ACCP</PmtInfSts>", "<PmtInfSts>ACCC</PmtInfSts>", 1)
	doc = strings.Replace(doc, "<OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId>", "<OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId><GrpSts>PATC</GrpSts>", 1)
	rep, err := ReadStatusReport(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("a report with ACCC and PATC: %v", err)
	}
	if rep.GroupStatus != StatusPATC || len(rep.PaymentInfos) != 1 || rep.PaymentInfos[0].Status != StatusACCC {
		t.Fatalf("group %s, blocks %+v", rep.GroupStatus, rep.PaymentInfos)
	}
	var rejected int
	for _, tx := range rep.Transactions {
		st, _ := rep.StatusOf(tx.OriginalPmtInfID, tx.OriginalEndToEndID)
		if !st.Rejected() {
			t.Errorf("%s: %s, want its own rejection", tx.OriginalEndToEndID, st)
		}
		rejected++
	}
	if rejected != 2 {
		t.Errorf("%d rejections read, want 2", rejected)
	}
	// A payment of the block not listed is settled.
	if st, _ := rep.StatusOf(rep.PaymentInfos[0].OriginalPmtInfID, "ADA-2026-03-000001"); st != StatusACCC || !st.Final() || !st.Accepted() {
		t.Errorf("an unlisted payment of the ACCC block: %s", st)
	}
	cancelled := strings.Replace(good, "<TxSts>RJCT</TxSts>", "<TxSts>CANC</TxSts>", 1)
	rep, err = ReadStatusReport(strings.NewReader(cancelled))
	if err != nil {
		t.Fatalf("a report with CANC: %v", err)
	}
	if st := rep.Transactions[0].Status; st != StatusCANC || !st.Rejected() {
		t.Errorf("a cancelled payment: %s", st)
	}
}
