package stripetest

import (
	stripe "github.com/stripe/stripe-go/v76"
)

// Helpers that add mutually consistent objects, the way Stripe links them:
// a charge's balance transaction (id in charge.balance_transaction), a
// refund and its negative balance transaction, a payout and what it paid out.
// Ids are derived from the given ones so tests can predict them.

// AddChargeBT adds the balance transaction of a captured charge: amount and
// fee in the settlement currency (one stripe_fee line), net = amount − fee,
// source = the charge, type charge, status available. Its id is
// "txn_" + chargeID (put it in the charge's balance_transaction).
func (s *Server) AddChargeBT(chargeID string, amount, fee int64, currency string, created int64) stripe.BalanceTransaction {
	s.t.Helper()
	bt := stripe.BalanceTransaction{
		ID: "txn_" + chargeID, Object: "balance_transaction",
		Amount: amount, Fee: fee, Net: amount - fee, Currency: stripe.Currency(currency),
		Created: created, AvailableOn: created + 2*86400,
		Description: "Charge " + chargeID, ReportingCategory: "charge",
		Status: stripe.BalanceTransactionStatusAvailable, Type: stripe.BalanceTransactionTypeCharge,
		Source: &stripe.BalanceTransactionSource{ID: chargeID},
		FeeDetails: []*stripe.BalanceTransactionFeeDetail{
			{Amount: fee, Currency: stripe.Currency(currency), Description: "Stripe processing fees", Type: "stripe_fee"},
		},
	}
	s.AddBalanceTransaction(bt)
	return bt
}

// AddChargeRefund adds a succeeded refund of chargeID and its balance
// transaction (amount −amount, fee 0: Stripe keeps the original fee), id
// "txn_" + refundID. Returns the refund as stored.
func (s *Server) AddChargeRefund(chargeID, refundID string, amount int64, currency string, created int64) stripe.Refund {
	s.t.Helper()
	s.AddBalanceTransaction(stripe.BalanceTransaction{
		ID: "txn_" + refundID, Object: "balance_transaction",
		Amount: -amount, Net: -amount, Currency: stripe.Currency(currency),
		Created: created, AvailableOn: created, Description: "REFUND FOR CHARGE " + chargeID,
		ReportingCategory: "refund", Status: stripe.BalanceTransactionStatusAvailable,
		Type: stripe.BalanceTransactionTypeRefund, Source: &stripe.BalanceTransactionSource{ID: refundID},
		FeeDetails: []*stripe.BalanceTransactionFeeDetail{},
	})
	r := stripe.Refund{
		ID: refundID, Object: "refund", Amount: amount, Currency: stripe.Currency(currency), Created: created,
		Charge:             &stripe.Charge{ID: chargeID},
		BalanceTransaction: &stripe.BalanceTransaction{ID: "txn_" + refundID},
		Status:             stripe.RefundStatusSucceeded,
		Reason:             stripe.RefundReasonRequestedByCustomer,
		Metadata:           map[string]string{},
	}
	s.AddRefund(r)
	return r
}

// AddPayout adds a payout's balance transaction (amount −amount, id
// "txn_" + payoutID, source the payout) and records that btIDs were paid out
// in it, for GET /v1/balance_transactions?payout=payoutID.
func (s *Server) AddPayout(payoutID string, amount int64, currency string, created int64, btIDs ...string) stripe.BalanceTransaction {
	s.t.Helper()
	bt := stripe.BalanceTransaction{
		ID: "txn_" + payoutID, Object: "balance_transaction",
		Amount: -amount, Net: -amount, Currency: stripe.Currency(currency),
		Created: created, AvailableOn: created, Description: "STRIPE PAYOUT",
		ReportingCategory: "payout", Status: stripe.BalanceTransactionStatusAvailable,
		Type: stripe.BalanceTransactionTypePayout, Source: &stripe.BalanceTransactionSource{ID: payoutID},
		FeeDetails: []*stripe.BalanceTransactionFeeDetail{},
	}
	s.AddBalanceTransaction(bt)
	s.AssignPayout(payoutID, btIDs...)
	return bt
}
