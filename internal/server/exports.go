package server

import (
	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/ledger/fec"
	"github.com/ofii/allowances/ledger/sqlstore"
	httptransport "github.com/ofii/allowances/transport/http"
)

// fecExporter is the FEC export of the settings, or nil without FEC_SIREN
// (the route then answers 503).
func fecExporter(cfg config.Config, store *sqlstore.Store) (httptransport.FECExporter, error) {
	if cfg.FECSIREN == "" {
		return nil, nil
	}
	return fec.NewExporter(store, cfg.FECSIREN, cfg.FECAccounts)
}
