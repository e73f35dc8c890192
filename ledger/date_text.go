package ledger

// MarshalText writes the date as YYYY-MM-DD, so that entries serialise (logs, task
// payloads, golden files) in the form Comptentra takes.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a YYYY-MM-DD date; "" and the zero date's "0000-00-00" give the
// zero Date, so that MarshalText round-trips.
func (d *Date) UnmarshalText(b []byte) error {
	if s := string(b); s == "" || s == (Date{}).String() {
		*d = Date{}
		return nil
	}
	parsed, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = parsed
	return nil
}
