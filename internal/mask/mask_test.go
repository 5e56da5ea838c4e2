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
