package server

import (
	"testing"
	"time"
)

// TestVerifyState checks what the console's "À traiter" says of the last
// verification of the books: never run, right, wrong, failed.
func TestVerifyState(t *testing.T) {
	at := time.Date(2026, 12, 4, 21, 10, 0, 0, time.UTC) // 22:10 in Paris
	for _, c := range []struct {
		run    verifyRun
		want   string
		severe bool
	}{
		{verifyRun{}, "jamais lancée depuis le démarrage", false},
		{verifyRun{At: at, Outcome: verifyOK}, "04/12/2026 à 22:10, conforme", false},
		{verifyRun{At: at, Outcome: verifyProblems, Problems: 2}, "04/12/2026 à 22:10, 2 anomalie(s) trouvée(s)", true},
		{verifyRun{At: at, Outcome: verifyError}, "04/12/2026 à 22:10, n'a pas pu aboutir", true},
	} {
		got := verifyState(c.run)
		if got.Value != c.want || got.Severe != c.severe || got.Label != "Dernière vérification du grand livre" {
			t.Errorf("%+v: %+v, want %q severe %v", c.run, got, c.want, c.severe)
		}
	}
}
