package reconcile_test

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/ofii/allowances/reconcile"
)

// A statement file is imported in two passes: Check reads it all and
// refuses it at its first fault, so that nothing of a malformed file is
// imported; Walk then delivers its lines one at a time.
func Example() {
	data, err := os.ReadFile("testdata/cfonb_multi.txt")
	if err != nil {
		fmt.Println(err)
		return
	}
	sum, err := reconcile.Check(reconcile.NewCFONBReader(bytes.NewReader(data), reconcile.Options{}))
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	fmt.Printf("%s, %d statements, %d lines\n", sum.Format, len(sum.Statements), sum.Lines)

	_, err = reconcile.Walk(reconcile.NewCFONBReader(bytes.NewReader(data), reconcile.Options{}),
		func(st reconcile.Statement, l reconcile.Line) error {
			if l.EndToEndID != "" {
				fmt.Println(st.Account, l.Direction, l.Amount.StringFixed(2), l.EndToEndID)
			}
			return nil
		})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// cfonb120, 3 statements, 8 lines
	// 30001-00064-00000012345 DBIT 350.00 ADA-2024-02-000123
	// 30001-00064-00000012345 CRDT 204.00 ADA-2024-02-000087
	// 30001-00064-00000012345 DBIT 420.00 ADA-2024-03-000015
	// 30001-00064-00000012345 CRDT 797.50 REIN-2024-02-000031
}

func ExampleCheck() {
	data, _ := os.ReadFile("testdata/camt053_v02.xml")
	bad := strings.Replace(string(data), "148642.00", "148600.00", 1)
	_, err := reconcile.Check(reconcile.NewCamt053Reader(strings.NewReader(bad), reconcile.Options{}))
	fmt.Println(err)
	// Output:
	// malformed statement file: line 213, Document/BkToCstmrStmt/Stmt[1], field Closing: balance mismatch: opening 150000.00 + booked entries -1358.00 = 148642.00, but the closing balance is 148600.00
}
