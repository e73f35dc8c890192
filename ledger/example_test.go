package ledger_test

import (
	"fmt"
	"time"

	"github.com/servolution/stripe-comptentra-sync/ledger"
)

func ExampleSplit() {
	for _, ttc := range []int64{12000, 1000, 12003} {
		ht, tva := ledger.Split(ttc, 2000)
		fmt.Println(ttc, "→ HT", ht, "TVA", tva)
	}
	ht, tva := ledger.Split(10, 550)
	fmt.Println("10 at 5.5 % → HT", ht, "TVA", tva)
	// Output:
	// 12000 → HT 10000 TVA 2000
	// 1000 → HT 833 TVA 167
	// 12003 → HT 10002 TVA 2001
	// 10 at 5.5 % → HT 9 TVA 1
}

func ExampleParseRate() {
	for _, s := range []string{"20", "5.5", "2,1", "8.5%", "120"} {
		bp, err := ledger.ParseRate(s)
		fmt.Println(s, bp, err)
	}
	// Output:
	// 20 2000 <nil>
	// 5.5 550 <nil>
	// 2,1 210 <nil>
	// 8.5% 850 <nil>
	// 120 0 ledger: bad VAT rate "120": above 100 %
}

func ExampleRules_Sale() {
	rules := ledger.DefaultRules()
	sale, err := rules.Sale(ledger.Charge{
		ID:         "ch_3Nv",
		Created:    time.Date(2025, 12, 31, 23, 30, 0, 0, time.UTC).Unix(), // 1 January in Paris
		Currency:   "eur",
		Amount:     12000,
		CustomerID: "cus_Q1",
		VATRate:    2000,
		VATSource:  "default",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sale.Key, sale.Journal, sale.Date, sale.PieceRef)
	fmt.Println(sale.Label)
	for _, l := range sale.Lines {
		fmt.Println(l.Account, l.Debit, l.Credit)
	}
	// Output:
	// ch_3Nv:sale VTE 2026-01-01 ch_3Nv
	// Vente Stripe ch_3Nv, TVA 20 % (default)
	// 411000 12000 0
	// 707000 0 10000
	// 445712 0 2000
}

func ExampleConvertECB() {
	// 120.00 USD at the ECB's 1 EUR = 1.0832 USD.
	eur, err := ledger.ConvertECB(12000, "usd", "1.0832")
	fmt.Println(ledger.FormatAmount(eur, "eur"), err)
	// Output: 110.78 EUR <nil>
}
