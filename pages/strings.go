package pages

var messages = map[string]map[string]string{
	"zh-CN": {
		"signin.title":         "登录",
		"signin.heading":       "登录您的账号",
		"signin.sub":           "继续前往 %s",
		"signin.username":      "用户名",
		"signin.password":      "密码",
		"signin.submit":        "登录",
		"signin.bad":           "用户名或密码不正确。",
		"signin.unavailable":   "服务暂时不可用，请稍后再试。",
		"signin.csrf":          "页面已过期，请重新提交。",
		"consent.title":        "授权",
		"consent.heading":      "%s 请求访问您的账号",
		"consent.intro":        "允许后，该应用将可以：",
		"consent.allow":        "允许",
		"consent.deny":         "拒绝",
		"consent.as":           "当前登录：%s",
		"error.title":          "出错了",
		"error.heading":        "无法继续",
		"error.client":         "未知的应用，或该应用未注册此回调地址。请联系应用的开发者。",
		"error.request":        "请求无效或已过期，请从应用重新开始。",
		"signedout.title":      "已退出",
		"signedout.heading":    "您已退出登录",
		"signedout.body":       "现在可以关闭此页面。",
		"lang.switch":          "English",
		"footer":               "由 lingpai 令牌 提供安全登录",
		"scope.openid":         "确认您的身份",
		"scope.profile":        "查看您的姓名和用户名",
		"scope.email":          "查看您的电子邮件地址",
		"scope.phone":          "查看您的手机号码",
		"scope.offline_access": "在您离开时保持访问（刷新令牌）",
		"scope.other":          "访问 %s",
	},
	"en": {
		"signin.title":         "Sign in",
		"signin.heading":       "Sign in to your account",
		"signin.sub":           "to continue to %s",
		"signin.username":      "Username",
		"signin.password":      "Password",
		"signin.submit":        "Sign in",
		"signin.bad":           "The username or password is incorrect.",
		"signin.unavailable":   "The service is temporarily unavailable. Please try again later.",
		"signin.csrf":          "This page has expired. Please submit it again.",
		"consent.title":        "Authorize",
		"consent.heading":      "%s wants to access your account",
		"consent.intro":        "If you allow it, this app will be able to:",
		"consent.allow":        "Allow",
		"consent.deny":         "Deny",
		"consent.as":           "Signed in as %s",
		"error.title":          "Error",
		"error.heading":        "We can't continue",
		"error.client":         "Unknown application, or this application did not register this return address. Please contact its developer.",
		"error.request":        "The request is invalid or has expired. Please start again from the application.",
		"signedout.title":      "Signed out",
		"signedout.heading":    "You are signed out",
		"signedout.body":       "You can close this page now.",
		"lang.switch":          "中文",
		"footer":               "Secure sign-in by lingpai",
		"scope.openid":         "Confirm who you are",
		"scope.profile":        "See your name and username",
		"scope.email":          "See your email address",
		"scope.phone":          "See your phone number",
		"scope.offline_access": "Keep access while you are away (refresh tokens)",
		"scope.other":          "Access %s",
	},
}

func text(lang, key string) string {
	if m, ok := messages[lang]; ok {
		if s, ok := m[key]; ok {
			return s
		}
	}
	return key
}
