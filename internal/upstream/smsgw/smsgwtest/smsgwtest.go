package smsgwtest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is what a gateway received.
type Message struct {
	Phone, Code string
	TTL         int
}

type recorder struct {
	mu       sync.Mutex
	msgs     []Message
	failNext string // vendor code (or HTTP status for the webhook) to answer next
	hang     time.Duration
}

func (r *recorder) add(m Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
}

// Messages returns everything received so far.
func (r *recorder) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...)
}

// Last returns the last code sent to phone ("" when none).
func (r *recorder) Last(phone string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.msgs) - 1; i >= 0; i-- {
		if strings.HasSuffix(r.msgs[i].Phone, strings.TrimPrefix(phone, "+86")) || r.msgs[i].Phone == phone {
			return r.msgs[i].Code
		}
	}
	return ""
}

// FailNext makes the next request fail with code (a vendor error code, or "500"/"429" for the webhook).
func (r *recorder) FailNext(code string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failNext = code
}

// Hang makes requests wait d before answering (past the sender's timeout).
func (r *recorder) Hang(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hang = d
}

// hold keeps a request waiting for hang, or until the client gives up (false). The body is read
// first: net/http notices a client that went away only once the body has been consumed.
func hold(req *http.Request, hang time.Duration) bool {
	if hang <= 0 {
		return true
	}
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	select {
	case <-time.After(hang):
		return true
	case <-req.Context().Done():
		return false
	}
}

func (r *recorder) takeFailure() (string, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.failNext
	r.failNext = ""
	return f, r.hang
}

// Webhook is an in-house gateway that verifies X-Lingpai-Signature.
type Webhook struct {
	*recorder
	URL    string
	Secret string
}

// NewWebhook starts a receiver keyed by secret.
func NewWebhook(t testing.TB, secret string) *Webhook {
	w := &Webhook{recorder: &recorder{}, Secret: secret}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		fail, hang := w.takeFailure()
		if !hold(req, hang) {
			return
		}
		body, _ := io.ReadAll(req.Body)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		want := "sha256=" + hex.EncodeToString(m.Sum(nil))
		if !hmac.Equal([]byte(want), []byte(req.Header.Get("X-Lingpai-Signature"))) {
			http.Error(rw, "bad signature", http.StatusUnauthorized)
			return
		}
		if fail != "" {
			var code int
			_, _ = fmt.Sscan(fail, &code)
			http.Error(rw, "failing on request", code)
			return
		}
		var msg struct {
			Phone, Code string
			TTL         int
		}
		if err := json.Unmarshal(body, &msg); err != nil {
			http.Error(rw, "bad json", http.StatusBadRequest)
			return
		}
		w.add(Message{Phone: msg.Phone, Code: msg.Code, TTL: msg.TTL})
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	w.URL = srv.URL
	return w
}

// Aliyun fakes dysmsapi SendSms.
type Aliyun struct {
	*recorder
	URL                    string
	AccessKeyID, KeySecret string
}

func aliyunEncode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// NewAliyun starts a fake that knows one access key.
func NewAliyun(t testing.TB, accessKeyID, secret string) *Aliyun {
	a := &Aliyun{recorder: &recorder{}, AccessKeyID: accessKeyID, KeySecret: secret}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		fail, hang := a.takeFailure()
		if !hold(req, hang) {
			return
		}
		rw.Header().Set("Content-Type", "application/json;charset=utf-8")
		_ = req.ParseForm()
		p := req.Form
		reply := func(status int, code, msg string) {
			rw.WriteHeader(status)
			fmt.Fprintf(rw, `{"RequestId":"F655A8D5-B967-440B-8683-DAD6FF8DE990","Code":%q,"Message":%q,"BizId":"900619746936498440^0"}`, code, msg)
		}
		if p.Get("AccessKeyId") != a.AccessKeyID {
			reply(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
			return
		}
		keys := []string{}
		for k := range p {
			if k != "Signature" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var pairs []string
		for _, k := range keys {
			pairs = append(pairs, aliyunEncode(k)+"="+aliyunEncode(p.Get(k)))
		}
		toSign := req.Method + "&%2F&" + aliyunEncode(strings.Join(pairs, "&"))
		m := hmac.New(sha1.New, []byte(a.KeySecret+"&"))
		m.Write([]byte(toSign))
		if base64.StdEncoding.EncodeToString(m.Sum(nil)) != p.Get("Signature") {
			reply(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.")
			return
		}
		if p.Get("Action") != "SendSms" || p.Get("Version") != "2017-05-25" {
			reply(400, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
			return
		}
		if fail != "" {
			reply(200, fail, "触发号码天级流控Permits:10")
			return
		}
		var tp struct{ Code string }
		_ = json.Unmarshal([]byte(p.Get("TemplateParam")), &tp)
		a.add(Message{Phone: p.Get("PhoneNumbers"), Code: tp.Code})
		reply(200, "OK", "OK")
	}))
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

// Tencent fakes sms.tencentcloudapi.com SendSms.
type Tencent struct {
	*recorder
	URL                 string
	SecretID, SecretKey string
	// TemplateParams is how many parameters the approved template has (0: any); a send with
	// another count fails as Tencent fails it.
	TemplateParams int
}

func hm(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// NewTencent starts a fake that knows one secret id and key.
func NewTencent(t testing.TB, secretID, secretKey string) *Tencent {
	f := &Tencent{recorder: &recorder{}, SecretID: secretID, SecretKey: secretKey}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		fail, hang := f.takeFailure()
		if !hold(req, hang) {
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		payload, _ := io.ReadAll(req.Body)
		failWith := func(code, msg string) {
			fmt.Fprintf(rw, `{"Response":{"Error":{"Code":%q,"Message":%q},"RequestId":"6c2ee4a5-8a31-4ab4-a0b8-7ab3b4b6c8f0"}}`, code, msg)
		}
		auth := req.Header.Get("Authorization")
		ts := req.Header.Get("X-TC-Timestamp")
		var tsec int64
		_, _ = fmt.Sscan(ts, &tsec)
		date := time.Unix(tsec, 0).UTC().Format("2006-01-02")
		scope := date + "/sms/tc3_request"
		if !strings.Contains(auth, "Credential="+f.SecretID+"/") {
			failWith("AuthFailure.SecretIdNotFound", "The SecretId is not found.")
			return
		}
		ph := sha256.Sum256(payload)
		creq := "POST\n/\n\ncontent-type:" + req.Header.Get("Content-Type") + "\nhost:" + req.Host + "\nx-tc-action:" +
			strings.ToLower(req.Header.Get("X-TC-Action")) + "\n\ncontent-type;host;x-tc-action\n" + hex.EncodeToString(ph[:])
		ch := sha256.Sum256([]byte(creq))
		sts := "TC3-HMAC-SHA256\n" + ts + "\n" + scope + "\n" + hex.EncodeToString(ch[:])
		key := hm(hm(hm([]byte("TC3"+f.SecretKey), date), "sms"), "tc3_request")
		want := "TC3-HMAC-SHA256 Credential=" + f.SecretID + "/" + scope + ", SignedHeaders=content-type;host;x-tc-action, Signature=" +
			hex.EncodeToString(hm(key, sts))
		if auth != want {
			failWith("AuthFailure.SignatureFailure", "The provided credentials could not be validated. Please check your signature is correct.")
			return
		}
		var body struct {
			PhoneNumberSet   []string
			TemplateParamSet []string
		}
		if json.Unmarshal(payload, &body) != nil || len(body.PhoneNumberSet) != 1 || len(body.TemplateParamSet) == 0 {
			failWith("InvalidParameterValue", "bad body")
			return
		}
		code, msg := "Ok", "send success"
		if n := f.TemplateParams; n > 0 && len(body.TemplateParamSet) != n {
			code, msg = "FailedOperation.TemplateParamSetNotMatchApprovedTemplate", "request content does not match template content"
		} else if fail != "" {
			code, msg = fail, "the number of sms messages sent from a single mobile number every day exceeds the upper limit"
		} else {
			f.add(Message{Phone: body.PhoneNumberSet[0], Code: body.TemplateParamSet[0]})
		}
		fmt.Fprintf(rw, `{"Response":{"SendStatusSet":[{"SerialNo":"2640:336215329110000000000","PhoneNumber":%q,"Fee":1,"SessionContext":"","Code":%q,"Message":%q,"IsoCode":"CN"}],"RequestId":"a0aabda6-cf91-4f3e-a81f-9198114a2279"}}`,
			body.PhoneNumberSet[0], code, msg)
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}
