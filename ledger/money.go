package ledger

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strings"
)

// ErrBadRate is returned for a VAT rate that is not a percentage between 0 and 100
// with at most two decimals.
var ErrBadRate = errors.New("ledger: bad VAT rate")

// ErrBadExchangeRate is returned for an exchange rate that is not a positive decimal.
var ErrBadExchangeRate = errors.New("ledger: bad exchange rate")

// ErrAmountOverflow is returned when a converted amount does not fit in an int64.
var ErrAmountOverflow = errors.New("ledger: amount out of range")

// MaxRate is 100 %, the highest rate ParseRate accepts, in basis points.
const MaxRate = 10000

// Exponent is the number of minor-unit digits of an ISO 4217 currency as Stripe counts
// them (case-insensitive): 0 for the zero-decimal currencies, 3 for the three-decimal
// ones, else 2.
func Exponent(currency string) int {
	switch strings.ToUpper(currency) {
	case "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "JOD", "KWD", "OMR", "TND":
		return 3
	}
	return 2
}

// FormatAmount writes minor units as a decimal amount with its upper-case currency
// ("120.00 EUR", "5000 JPY", "-5.00 EUR"), for labels and logs.
func FormatAmount(minor int64, currency string) string {
	cur := strings.ToUpper(currency)
	exp := Exponent(cur)
	sign := ""
	// Work on the uint64 magnitude so that math.MinInt64 prints correctly.
	mag := uint64(minor)
	if minor < 0 {
		sign = "-"
		mag = -mag
	}
	if exp == 0 {
		return fmt.Sprintf("%s%d %s", sign, mag, cur)
	}
	unit := uint64(1)
	for range exp {
		unit *= 10
	}
	return fmt.Sprintf("%s%d.%0*d %s", sign, mag/unit, exp, mag%unit, cur)
}

// Split divides a VAT-inclusive (TTC) amount into its HT base and VAT:
// tva = round_half_up(ttc × rate / (10000 + rate)) computed exactly, and ht = ttc − tva,
// so that ht + tva = ttc always and no rounding line is ever needed. Negative amounts
// mirror positive ones (Split(-x) = -Split(x)). rateBP is in basis points (2000 = 20 %)
// and must be between 0 and MaxRate: anything else is a programming error (ParseRate and
// Rules.Validate reject such rates before they get here) and panics.
func Split(ttc int64, rateBP int) (ht, tva int64) {
	if rateBP < 0 || rateBP > MaxRate {
		panic(fmt.Sprintf("ledger: Split with rate %d bp outside 0..%d", rateBP, MaxRate))
	}
	// rate ≤ 10000+rate, so the quotient never exceeds |ttc| and cannot overflow.
	tva, _ = mulDivHalfUp(ttc, uint64(rateBP), uint64(MaxRate+rateBP))
	return ttc - tva, tva
}

// mulDivHalfUp is round_half_up(x × num / den), rounding halves away from zero so that
// negative amounts mirror positive ones. It computes on 128 bits; ok is false when the
// result does not fit in an int64. den must be positive and num < 2^63.
func mulDivHalfUp(x int64, num, den uint64) (q int64, ok bool) {
	mag := uint64(x)
	if x < 0 {
		mag = -mag // also right for math.MinInt64: 1<<63
	}
	// floor((2·|x|·num + den) / (2·den)) is |x|·num/den rounded half up.
	hi, lo := bits.Mul64(mag, num)
	hi = hi<<1 | lo>>63 // |x| < 2^64 and num < 2^63: the doubled product fits in 128 bits
	lo <<= 1
	var carry uint64
	lo, carry = bits.Add64(lo, den, 0)
	hi += carry
	hi2, lo2 := bits.Mul64(den, 2) // 2·den may exceed 64 bits
	if hi2 != 0 {
		// Divisor wider than 64 bits: fall back to big integers (rare: den ≥ 2^63).
		return mulDivHalfUpBig(x, num, den)
	}
	if hi >= lo2 {
		return 0, false
	}
	quo, _ := bits.Div64(hi, lo, lo2)
	if quo > math.MaxInt64 {
		return 0, false
	}
	if x < 0 {
		return -int64(quo), true
	}
	return int64(quo), true
}

func mulDivHalfUpBig(x int64, num, den uint64) (int64, bool) {
	n := new(big.Int).Mul(big.NewInt(x), new(big.Int).SetUint64(num))
	return roundHalfUp(n, new(big.Int).SetUint64(den))
}

// roundHalfUp is n/d rounded half away from zero, for d > 0; ok is false when the
// result does not fit in an int64.
func roundHalfUp(n, d *big.Int) (int64, bool) {
	mag := new(big.Int).Abs(n)
	mag.Lsh(mag, 1).Add(mag, d)
	mag.Quo(mag, new(big.Int).Lsh(d, 1))
	if n.Sign() < 0 {
		mag.Neg(mag)
	}
	if !mag.IsInt64() {
		return 0, false
	}
	return mag.Int64(), true
}

// ParseRate reads a VAT percentage as basis points: "20" → 2000, "5.5" → 550,
// "2.1" → 210, "0" → 0. A trailing "%" and a decimal comma ("5,5", as French users
// write it in metadata) are accepted. Negative rates, rates above 100 %, more than two
// decimals and anything else are rejected with ErrBadRate. The parse is done on the
// digits themselves: a float would turn "0.07" into 6.999….
func ParseRate(s string) (int, error) {
	fail := func(why string) (int, error) {
		return 0, fmt.Errorf("%w %q: %s", ErrBadRate, s, why)
	}
	t := strings.TrimSpace(s)
	t = strings.TrimSpace(strings.TrimSuffix(t, "%"))
	if t == "" {
		return fail("empty")
	}
	whole, frac, hasPoint := strings.Cut(t, ".")
	if !hasPoint {
		whole, frac, hasPoint = strings.Cut(t, ",")
	}
	if whole == "" || (hasPoint && frac == "") {
		return fail("want digits on both sides of the decimal point")
	}
	if len(frac) > 2 {
		return fail("more than two decimals")
	}
	bp := 0
	for _, c := range whole {
		if c < '0' || c > '9' {
			return fail("not a decimal percentage")
		}
		bp = bp*10 + int(c-'0')*100
		if bp > MaxRate {
			return fail("above 100 %")
		}
	}
	for i, c := range frac {
		if c < '0' || c > '9' {
			return fail("not a decimal percentage")
		}
		bp += int(c-'0') * []int{10, 1}[i]
	}
	if bp > MaxRate {
		return fail("above 100 %")
	}
	return bp, nil
}

// FormatRate writes basis points as the shortest percentage ParseRate reads back:
// 2000 → "20", 550 → "5.5", 210 → "2.1", 5 → "0.05".
func FormatRate(bp int) string {
	s := fmt.Sprintf("%d.%02d", bp/100, bp%100)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// parseDecimal reads a positive decimal such as Stripe's exchange_rate ("0.904583") or an
// ECB quote ("1.0832") exactly, as digits / 10^scale. Exponents, signs, fractions and
// anything float-like are refused: rates must stay exact.
func parseDecimal(s string) (digits *big.Int, scale int, err error) {
	fail := func(why string) (*big.Int, int, error) {
		return nil, 0, fmt.Errorf("%w %q: %s", ErrBadExchangeRate, s, why)
	}
	t := strings.TrimSpace(s)
	whole, frac, hasPoint := strings.Cut(t, ".")
	if whole == "" || (hasPoint && frac == "") || len(t) > 64 {
		return fail("want a decimal number such as 0.904583")
	}
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			return fail("want a decimal number such as 0.904583")
		}
	}
	digits, _ = new(big.Int).SetString(whole+frac, 10)
	if digits.Sign() == 0 {
		return fail("zero")
	}
	return digits, len(frac), nil
}

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// Convert turns an amount in from's minor units into to's minor units at rate (1 unit of
// from = rate units of to, an exact decimal string such as Stripe's exchange_rate),
// rounding half away from zero. Exponents are taken into account: 5000 JPY at "0.0062"
// to EUR is 3100 cents.
func Convert(amount int64, from, rate, to string) (int64, error) {
	digits, scale, err := parseDecimal(rate)
	if err != nil {
		return 0, err
	}
	// to = amount / 10^expFrom × digits / 10^scale × 10^expTo
	n := new(big.Int).Mul(big.NewInt(amount), digits)
	n.Mul(n, pow10(Exponent(to)))
	d := pow10(scale + Exponent(from))
	out, ok := roundHalfUp(n, d)
	if !ok {
		return 0, fmt.Errorf("%w: %s at %s in %s", ErrAmountOverflow, FormatAmount(amount, from), rate, strings.ToUpper(to))
	}
	return out, nil
}

// ConvertECB turns an amount in currency's minor units into euro cents at an ECB
// reference rate, which quotes 1 EUR = eurRate units of currency (e.g. "1.0832" USD):
// the amount is divided by the quote, rounding half away from zero.
func ConvertECB(amount int64, currency, eurRate string) (int64, error) {
	digits, scale, err := parseDecimal(eurRate)
	if err != nil {
		return 0, err
	}
	// eur = amount / 10^expCur / (digits / 10^scale) × 10^2
	n := new(big.Int).Mul(big.NewInt(amount), pow10(scale+Exponent("EUR")))
	d := new(big.Int).Mul(digits, pow10(Exponent(currency)))
	out, ok := roundHalfUp(n, d)
	if !ok {
		return 0, fmt.Errorf("%w: %s at ECB %s", ErrAmountOverflow, FormatAmount(amount, currency), eurRate)
	}
	return out, nil
}
