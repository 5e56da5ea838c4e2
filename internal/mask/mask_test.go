package mask

import "testing"

func TestMaskIBAN(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"French", "FR7630006000011234567890189", "FR76 **** **** 0189"},
		{"Grouped", "FR76 3000 6000 0112 3456 7890 189", "FR76 **** **** 0189"},
		{"LowerCase", "de89370400440532013000", "DE89 **** **** 3000"},
		{"Norwegian", "NO9386011117947", "NO93 **** **** 7947"},
		{"TooShort", "FR761234", "****"},
		{"Empty", "", "****"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MaskIBAN(tt.in); got != tt.want {
				t.Errorf("MaskIBAN(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMaskIBANsIn(t *testing.T) {
	in := `{"payee": {"name": "Amina Diallo", "iban": "FR7630006000011234567890189", "bic": "AGRIFRPP"}, "n": "OFII-2026-000123"}`
	want := `{"payee": {"name": "Amina Diallo", "iban": "FR76 **** **** 0189", "bic": "AGRIFRPP"}, "n": "OFII-2026-000123"}`
	if got := MaskIBANsIn(in); got != want {
		t.Errorf("MaskIBANsIn = %s\nwant %s", got, want)
	}
}

func TestMaskPayload(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"Contract", `{"type": "ada.teleported", "data": {"payee": {"name": "Amina Diallo", "iban": "FR7630006000011234567890189", "bic": "AGRIFRPP"}}}`,
			`{"type": "ada.teleported", "data": {"payee": {"name": "Amina Diallo", "iban": "FR76 **** **** 0189", "bic": "AGRIFRPP"}}}`},
		// A malformed IBAN is often why a record was refused: it is masked
		// all the same, grouped, in lower case or too long.
		{"Grouped", `{"iban":"fr76 3000 6000 0112 3456 7890 189"}`, `{"iban":"FR76 **** **** 0189"}`},
		{"OtherName", `{"payee_IBAN" : "FR76300060000112345678901890000"}`, `{"payee_IBAN" : "FR76 **** **** 0000"}`},
		{"Short", `{"iban": "FR76"}`, `{"iban": "****"}`},
		{"Empty", `{"iban": "", "x": 1}`, `{"iban": "", "x": 1}`},
		{"NotJSON", `payee FR7630006000011234567890189;`, `payee FR76 **** **** 0189;`},
		{"Escaped", `{"iban": "FR76\"3000600001123456789"}`, `{"iban": "FR76 **** **** 6789"}`},
		{"NoIBAN", `{"beneficiary_id": "OFII-2026-000123", "territory": "metropole"}`, `{"beneficiary_id": "OFII-2026-000123", "territory": "metropole"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MaskPayload(tt.in); got != tt.want {
				t.Errorf("MaskPayload(%s) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}
