// Package smsgwtest has local stand-ins for SMS gateways: a webhook receiver and fakes of the
// Alibaba Cloud and Tencent Cloud SMS APIs that check each request's signature the vendor's way
// (recomputed here, independently of the senders) and answer with the vendors' real bodies.
package smsgwtest
