package ledger

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		name    string
		ttc     int64
		rate    int
		ht, tva int64
	}{
		{"tutorial 1000 at 20 % (int/6 gives 166)", 1000, 2000, 833, 167},
		{"tie at 20 % rounds up: 12003", 12003, 2000, 10002, 2001},
		{"10 at 5.5 %", 10, 550, 9, 1},
		{"worked example 1", 12000, 2000, 10000, 2000},
		{"worked example 5", 10855, 2000, 9046, 1809},
		{"refund 5000", 5000, 2000, 4167, 833},
		{"500 at 20 %", 500, 2000, 417, 83},
		{"tie at 20 %: 3 cents", 3, 2000, 2, 1},
		{"tie at 20 %: 9 cents", 9, 2000, 7, 2},
		{"below a tie: 2 cents", 2, 2000, 2, 0},
		{"10 %", 1100, 1000, 1000, 100},
		{"10 % rounding", 1234, 1000, 1122, 112},
		{"5.5 %", 10550, 550, 10000, 550},
		{"2.1 %", 10210, 210, 10000, 210},
		{"2.1 % small", 100, 210, 98, 2},
		{"8.5 %", 10850, 850, 10000, 850},
		{"8.5 % rounding", 999, 850, 921, 78},
		{"0 %", 12000, 0, 12000, 0},
		{"zero", 0, 2000, 0, 0},
		{"100 %", 3, 10000, 1, 2},
		{"negative mirrors: -1000", -1000, 2000, -833, -167},
		{"negative tie: -12003", -12003, 2000, -10002, -2001},
		{"negative 5.5 %", -10, 550, -9, -1},
		{"negative 0 %", -500, 0, -500, 0},
		{"large", 1_000_000_000_000_000, 2000, 833_333_333_333_333, 166_666_666_666_667},
		{"largest", math.MaxInt64, 10000, math.MaxInt64 - 4611686018427387904, 4611686018427387904},
		{"smallest", math.MinInt64, 10000, -4611686018427387904, -4611686018427387904},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ht, tva := Split(tt.ttc, tt.rate)
			if ht != tt.ht || tva != tt.tva {
				t.Errorf("Split(%d, %d) = %d, %d; want %d, %d", tt.ttc, tt.rate, ht, tva, tt.ht, tt.tva)
			}
		})
	}
}

// exactVAT is ttc × rate / (10000 + rate) as an exact rational.
func exactVAT(ttc int64, rate int) *big.Rat {
	return new(big.Rat).SetFrac(
		new(big.Int).Mul(big.NewInt(ttc), big.NewInt(int64(rate))),
		big.NewInt(int64(10000+rate)))
}

// roundHalfUpRat rounds half away from zero, the reference Split must match.
func roundHalfUpRat(x *big.Rat) int64 {
	neg := x.Sign() < 0
	a := new(big.Rat).Abs(x)
	a.Add(a, big.NewRat(1, 2))
	q := new(big.Int).Quo(a.Num(), a.Denom())
	if neg {
		q.Neg(q)
	}
	return q.Int64()
}

func TestSplitMatchesExactRational(t *testing.T) {
	rates := []int{0, 1, 210, 550, 850, 1000, 2000, 2500, 9999, 10000}
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(ttc int64, rate int) {
		t.Helper()
		ht, tva := Split(ttc, rate)
		if want := roundHalfUpRat(exactVAT(ttc, rate)); tva != want {
			t.Fatalf("Split(%d, %d) tva = %d, want %d", ttc, rate, tva, want)
		}
		if ht+tva != ttc {
			t.Fatalf("Split(%d, %d) = %d + %d ≠ ttc", ttc, rate, ht, tva)
		}
	}
	for _, rate := range rates {
		for ttc := int64(-5000); ttc <= 5000; ttc++ {
			check(ttc, rate)
		}
		for range 20000 {
			check(rng.Int64N(2_000_000_000_000_001)-1_000_000_000_000_000, rate)
			check(rng.Int64(), rate)
		}
	}
}

func TestSplitPanicsOnImpossibleRate(t *testing.T) {
	for _, rate := range []int{-1, 10001} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Split(100, %d) did not panic", rate)
				}
			}()
			Split(100, rate)
		}()
	}
}

func FuzzSplit(f *testing.F) {
	for _, s := range []struct {
		ttc  int64
		rate int
	}{{1000, 2000}, {12003, 2000}, {10, 550}, {-7, 210}, {0, 0}, {math.MaxInt64, 10000}, {math.MinInt64 + 1, 850}} {
		f.Add(s.ttc, s.rate)
	}
	f.Fuzz(func(t *testing.T, ttc int64, rate int) {
		if rate < 0 {
			rate = -(rate + 1)
		}
		rate %= MaxRate + 1
		if ttc == math.MinInt64 {
			ttc++ // its mirror does not exist
		}
		ht, tva := Split(ttc, rate)
		if ht+tva != ttc {
			t.Fatalf("Split(%d, %d) = %d + %d ≠ ttc", ttc, rate, ht, tva)
		}
		if nht, ntva := Split(-ttc, rate); nht != -ht || ntva != -tva {
			t.Fatalf("Split(%d, %d) = %d, %d; Split(-x) = %d, %d: not mirrored", ttc, rate, ht, tva, nht, ntva)
		}
		// |tva − exact| ≤ 1/2
		diff := new(big.Rat).Sub(new(big.Rat).SetInt64(tva), exactVAT(ttc, rate))
		if diff.Abs(diff).Cmp(big.NewRat(1, 2)) > 0 {
			t.Fatalf("Split(%d, %d) tva %d is %s away from exact", ttc, rate, tva, diff.RatString())
		}
		if rate == 0 && tva != 0 {
			t.Fatalf("Split(%d, 0) tva = %d", ttc, tva)
		}
	})
}

func TestParseRate(t *testing.T) {
	good := []struct {
		in   string
		want int
	}{
		{"20", 2000}, {"5.5", 550}, {"2.1", 210}, {"0", 0}, {"10", 1000}, {"8.5%", 850},
		{"8.5 %", 850}, {" 20 ", 2000}, {"5,5", 550}, {"20.00", 2000}, {"0.07", 7},
		{"100", 10000}, {"100.00", 10000}, {"020", 2000}, {"0.5", 50},
	}
	for _, tt := range good {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("ParseRate(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
	for _, in := range []string{"", "%", "-5", "-0", "+5", "100.01", "101", "5.555", "5.", ".5", "abc", "5.5.5", "1e1", "NaN", "20%%", "2 0", "٢٠", "99999999999999999999"} {
		t.Run("reject "+in, func(t *testing.T) {
			got, err := ParseRate(in)
			if !errors.Is(err, ErrBadRate) {
				t.Errorf("ParseRate(%q) = %d, %v; want ErrBadRate", in, got, err)
			}
		})
	}
}

func TestFormatRate(t *testing.T) {
	for bp, want := range map[int]string{2000: "20", 550: "5.5", 210: "2.1", 0: "0", 5: "0.05", 850: "8.5", 10000: "100", 1234: "12.34"} {
		if got := FormatRate(bp); got != want {
			t.Errorf("FormatRate(%d) = %q, want %q", bp, got, want)
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"20", "5.5", "2,1", "0", "8.5%", "-1", "100.001", "", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		bp, err := ParseRate(s)
		if err != nil {
			if !errors.Is(err, ErrBadRate) {
				t.Fatalf("ParseRate(%q) error %v does not wrap ErrBadRate", s, err)
			}
			return
		}
		if bp < 0 || bp > MaxRate {
			t.Fatalf("ParseRate(%q) = %d, outside 0..%d", s, bp, MaxRate)
		}
		back, err := ParseRate(FormatRate(bp))
		if err != nil || back != bp {
			t.Fatalf("ParseRate(%q) = %d; FormatRate gives %q which parses to %d, %v", s, bp, FormatRate(bp), back, err)
		}
	})
}

func TestExponent(t *testing.T) {
	for cur, want := range map[string]int{
		"eur": 2, "EUR": 2, "usd": 2, "jpy": 0, "JPY": 0, "krw": 0, "xof": 0, "vnd": 0,
		"bhd": 3, "KWD": 3, "tnd": 3, "gbp": 2, "chf": 2,
	} {
		if got := Exponent(cur); got != want {
			t.Errorf("Exponent(%q) = %d, want %d", cur, got, want)
		}
	}
}

func TestFormatAmount(t *testing.T) {
	tests := []struct {
		minor int64
		cur   string
		want  string
	}{
		{12000, "eur", "120.00 EUR"},
		{5000, "jpy", "5000 JPY"},
		{-500, "EUR", "-5.00 EUR"},
		{5, "eur", "0.05 EUR"},
		{1234, "kwd", "1.234 KWD"},
		{0, "usd", "0.00 USD"},
		{math.MinInt64, "eur", "-92233720368547758.08 EUR"},
	}
	for _, tt := range tests {
		if got := FormatAmount(tt.minor, tt.cur); got != tt.want {
			t.Errorf("FormatAmount(%d, %q) = %q, want %q", tt.minor, tt.cur, got, tt.want)
		}
	}
}

func TestConvert(t *testing.T) {
	tests := []struct {
		name    string
		amount  int64
		from    string
		rate    string
		to      string
		want    int64
		wantErr error
	}{
		{"usd to eur at Stripe's rate", 12000, "usd", "0.904583", "eur", 10855, nil},
		{"half rounds up", 1, "usd", "0.5", "eur", 1, nil},
		{"below half rounds down", 1, "usd", "0.4999999", "eur", 0, nil},
		{"negative mirrors", -1, "usd", "0.5", "eur", -1, nil},
		{"jpy has no minor unit", 5000, "jpy", "0.0062", "eur", 3100, nil},
		{"to jpy", 3100, "eur", "161.29", "jpy", 5000, nil},
		{"kwd has three", 1000, "kwd", "2.98", "eur", 298, nil},
		{"identity", 12345, "eur", "1", "eur", 12345, nil},
		{"zero rate", 100, "usd", "0", "eur", 0, ErrBadExchangeRate},
		{"negative rate", 100, "usd", "-0.9", "eur", 0, ErrBadExchangeRate},
		{"exponent form", 100, "usd", "9e-1", "eur", 0, ErrBadExchangeRate},
		{"fraction form", 100, "usd", "9/10", "eur", 0, ErrBadExchangeRate},
		{"empty", 100, "usd", "", "eur", 0, ErrBadExchangeRate},
		{"overflow", math.MaxInt64, "usd", "2", "eur", 0, ErrAmountOverflow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Convert(tt.amount, tt.from, tt.rate, tt.to)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("Convert(%d, %s, %q, %s) = %d, %v; want %d, %v", tt.amount, tt.from, tt.rate, tt.to, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestConvertECB(t *testing.T) {
	tests := []struct {
		amount int64
		cur    string
		rate   string
		want   int64
	}{
		{12000, "usd", "1.0832", 11078}, // 120 / 1.0832 = 110.782...
		{12000, "usd", "1.2", 10000},
		{5000, "jpy", "161.29", 3100}, // 5000 / 161.29 = 31.0001...
		{3, "usd", "2", 2},            // 1.5 cents rounds half up
		{-3, "usd", "2", -2},          // and mirrors
		{1000, "kwd", "0.33", 303},    // 1.000 KWD / 0.33 = 3.0303 EUR
	}
	for _, tt := range tests {
		got, err := ConvertECB(tt.amount, tt.cur, tt.rate)
		if err != nil || got != tt.want {
			t.Errorf("ConvertECB(%d, %s, %q) = %d, %v; want %d", tt.amount, tt.cur, tt.rate, got, err, tt.want)
		}
	}
	if _, err := ConvertECB(100, "usd", "0.000"); !errors.Is(err, ErrBadExchangeRate) {
		t.Errorf("ConvertECB at 0: %v, want ErrBadExchangeRate", err)
	}
}

func TestMulDivHalfUpWideDivisor(t *testing.T) {
	// A divisor ≥ 2^63 takes the big-integer path and must agree with it.
	got, ok := mulDivHalfUp(math.MaxInt64, 1<<62, 1<<63)
	if !ok || got != math.MaxInt64/2+1 {
		t.Errorf("mulDivHalfUp wide = %d, %v", got, ok)
	}
	if _, ok := mulDivHalfUp(math.MaxInt64, 3, 2); ok {
		t.Error("mulDivHalfUp(MaxInt64 × 3/2) reported ok")
	}
}
