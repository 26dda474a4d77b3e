package config

import "fmt"

// validateSections checks the configuration sections that belong to optional grants: a grant
// listed in grants.enabled needs its section.
func (c *Config) validateSections() []error {
	var errs []error
	if c.GrantEnabled("sms") {
		if c.SMS == nil {
			errs = append(errs, fmt.Errorf("sms: required when grants.enabled lists sms (at least sms.provider)"))
		} else {
			errs = append(errs, c.SMS.validate(c.demo)...)
		}
	}
	if c.GrantEnabled("wechat") {
		if c.WeChat == nil {
			errs = append(errs, fmt.Errorf("wechat: required when grants.enabled lists wechat (at least wechat.apps)"))
		} else {
			errs = append(errs, c.WeChat.Validate("wechat")...)
		}
	}
	if c.GrantEnabled("password_ad") {
		if c.LDAP == nil {
			errs = append(errs, fmt.Errorf("ldap: required when grants.enabled lists password_ad (at least ldap.url, bind_dn, bind_password, base_dn)"))
		} else {
			errs = append(errs, c.LDAP.Validate("ldap")...)
		}
	}
	return errs
}
