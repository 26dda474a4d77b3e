// Package smsgw sends one-time codes through an SMS gateway: a development log, a signed webhook
// to any in-house gateway, Alibaba Cloud SMS or Tencent Cloud SMS. Every provider implements
// smscode.Sender; a vendor's volume refusal wraps smscode.ErrGatewayLimited (answered 429), any
// other failure is an error (answered 503). No provider logs or returns the code, except log.
package smsgw
