// Package comptentra is a typed client for the Comptentra REST API
// (docs/comptentra-api.md): journal entries, fiscal years, chart of accounts, tiers.
// It knows nothing of Stripe. The sibling package comptentratest is a strict
// in-memory implementation of the same API for tests and the local stack.
package comptentra

import "time"

// Line is one line of an entry as Comptentra takes and returns it.
type Line struct {
	Compte      string `json:"compte"`
	Libelle     string `json:"libelle,omitempty"`
	TiersEmail  string `json:"tiers_email,omitempty"`
	TiersRef    string `json:"tiers_ref,omitempty"`
	TiersNom    string `json:"tiers_nom,omitempty"`
	DebitCents  int64  `json:"debit_cents"`
	CreditCents int64  `json:"credit_cents"`

	Devise             string `json:"devise,omitempty"`
	MontantDeviseCents int64  `json:"montant_devise_cents,omitempty"`

	// Set by Comptentra in responses.
	CompteAuxiliaire string `json:"compte_auxiliaire,omitempty"`
	TiersID          string `json:"tiers_id,omitempty"`
}

// NewEntry is the body of POST /ecritures.
type NewEntry struct {
	Date     string `json:"date"` // YYYY-MM-DD, Europe/Paris calendar
	Journal  string `json:"journal"`
	Libelle  string `json:"libelle"`
	PieceRef string `json:"piece_ref,omitempty"`
	Lignes   []Line `json:"lignes"`
}

// Entry is a journal entry as stored by Comptentra.
type Entry struct {
	ID        string    `json:"id"`
	Numero    string    `json:"numero"`
	Date      string    `json:"date"`
	Journal   string    `json:"journal"`
	Libelle   string    `json:"libelle"`
	PieceRef  string    `json:"piece_ref,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	Lignes    []Line    `json:"lignes"`
}

// ListEntriesParams filters GET /ecritures. Zero values are left out of the query.
type ListEntriesParams struct {
	Journal  string
	PieceRef string
	DateFrom string // inclusive, YYYY-MM-DD
	DateTo   string // inclusive, YYYY-MM-DD
	Limit    int    // 1–200; 0 means the server default (50)
	Cursor   string
}

// EntryPage is one page of GET /ecritures.
type EntryPage struct {
	Data       []Entry `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// FiscalYear is one exercice.
type FiscalYear struct {
	ID        string `json:"id"`
	DateDebut string `json:"date_debut"`
	DateFin   string `json:"date_fin"`
	Statut    string `json:"statut"` // "ouvert" or "clos"
}

// Fiscal year statuses.
const (
	StatutOuvert = "ouvert"
	StatutClos   = "clos"
)

// Account is one account of the chart (GET /comptes).
type Account struct {
	Numero  string `json:"numero"`
	Libelle string `json:"libelle"`
}

// Tiers is a customer known to Comptentra (GET /tiers).
type Tiers struct {
	ID               string `json:"id"`
	Nom              string `json:"nom"`
	Email            string `json:"email"`
	Ref              string `json:"ref"`
	CompteAuxiliaire string `json:"compte_auxiliaire"`
}

// ErrorBody is the JSON shape of every Comptentra error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the "error" member of an error response.
type ErrorDetail struct {
	Code    string        `json:"code"`
	Message string        `json:"message"`
	Details []FieldDetail `json:"details,omitempty"`
}

// FieldDetail names the field a validation error is about.
type FieldDetail struct {
	Field string `json:"field"`
	Issue string `json:"issue"`
}

// Error codes of the contract.
const (
	CodeUnauthorized          = "unauthorized"
	CodeForbiddenScope        = "forbidden_scope"
	CodeRateLimited           = "rate_limited"
	CodePayloadTooLarge       = "payload_too_large"
	CodeJSONInvalide          = "json_invalide"
	CodeNotFound              = "not_found"
	CodeMethodNotAllowed      = "method_not_allowed"
	CodeIdempotencyConflict   = "idempotency_conflict"
	CodeIdempotencyInProgress = "idempotency_in_progress"
	CodeDesequilibre          = "desequilibre"
	CodeLigneInvalide         = "ligne_invalide"
	CodeCompteInconnu         = "compte_inconnu"
	CodeJournalInconnu        = "journal_inconnu"
	CodeDateInvalide          = "date_invalide"
	CodeHorsExercice          = "hors_exercice"
	CodeExerciceClos          = "exercice_clos"
	CodeTiersRequis           = "tiers_requis"
	CodeLibelleRequis         = "libelle_requis"
	CodeDeviseInvalide        = "devise_invalide"
	CodeInternal              = "internal"
)

// Header names of the contract.
const (
	HeaderAPIKey             = "X-API-Key"
	HeaderRequestID          = "X-Request-Id"
	HeaderIdempotencyKey     = "Idempotency-Key"
	HeaderIdempotentReplayed = "Idempotent-Replayed"
	HeaderRetryAfter         = "Retry-After"
)

// DefaultBaseURL is Comptentra's production API root.
const DefaultBaseURL = "https://app.comptentra.servolution.fr/api/v1"
