-- The account pages: sign-in and out, sign-up and its confirmation,
-- a forgotten password, my account (password, address, data, deletion,
-- API keys) and the admins' members page, each through the API's account
-- operations (plugin.api), as the tables' pages are; and the mails of
-- those operations' events (init.lua hooks them). A module
-- (plugin.module): a tenant's state holds this code only once someone
-- opens one of these pages or an event mails.

local M = {}

-- A refusal's field problem, or nil.
local function field(body, name)
	local e = type(body) == "table" and body.error
	return e and e.fields and e.fields[name]
end

-- A page that says "too many attempts", with the API's Retry-After.
local function limited(page, body)
	page.headers = { ["Retry-After"] = tostring(body.error.retry_after) }
	return page
end

-- Signing in and out. The core counts the attempt, checks the password on
-- its hashing threads and sets the session cookie with the operation's
-- answer; this page only asks and answers.
local function signin_page(req, status, message, email)
	return {
		status = status,
		html = plugin.render("signin.html", {
			csrf = req.csrf,
			email = email,
			message = message,
			user = req.user,
		}, req.lang),
	}
end

M["GET /inloggen"] = function(req)
	return signin_page(req, 200)
end

M["POST /inloggen"] = function(req)
	local email = req.form.email or ""
	local st, body = plugin.api.post("/session", { email = email, password = req.form.password or "" })
	if st == 200 then
		return { redirect = "/" }
	end
	if st == 429 then
		return limited(signin_page(req, 429, plugin.t("site.signin_limited", nil, req.lang), email), body)
	end
	return signin_page(req, 401, plugin.t("site.signin_invalid", nil, req.lang), email)
end

M["POST /uitloggen"] = function(req)
	plugin.api.delete("/session")
	return { redirect = "/" }
end

-- Signing up. The core checks the fields, hashes the password on its
-- hashing threads and inserts the account with a verification token; the
-- event account.created mails the link (in the same transaction: it goes
-- out only if the account was stored). An address that has an account
-- already gets the same page, and its owner a mail that says so
-- (account.exists).

local function signup_page(req, status, form, errors)
	errors = errors or {}
	return {
		status = status,
		html = plugin.render("signup.html", {
			csrf = req.csrf,
			user = req.user,
			fields = forms().account(req, { "name", "email", "password" }, form, errors),
			errors = errors,
			has_errors = next(errors) ~= nil and not errors.form,
		}, req.lang),
	}
end

local function mail_text(lines)
	return table.concat(lines, "\n") .. "\n"
end

-- A mail with one link: greeting, body, the link, a line on what to do
-- if it was not you, in plain text and HTML, in LANG. KEYS names the
-- translations: KEYS.subject, .body, .link, .ignore ("site.mail_<x>_..."),
-- NAME nil for the plain greeting. Returns whether the outbox took it.
local function send_link_mail(lang, to, name, keys, path)
	local tenant = plugin.tenant().name
	local link = plugin.url(path)
	local view = {
		greeting = name and plugin.t("site.mail_greeting", { name = name }, lang)
			or plugin.t("site.mail_greeting_plain", nil, lang),
		body = plugin.t(keys.body, { tenant = tenant }, lang),
		link = link,
		link_text = plugin.t(keys.link, nil, lang),
		ignore = plugin.t(keys.ignore, nil, lang),
	}
	local text = mail_text({ view.greeting, "", view.body, "", link, "", view.ignore, "", "-- ", tenant })
	local html = plugin.render("mail/message.html", view, lang)
	return plugin.mail.send(to, plugin.t(keys.subject, { tenant = tenant }, lang), text, html)
end

-- The mails of the account operations' events: E = {email, name,
-- token, lang} as the operation gave them.
local function send_verify_mail(e)
	local ok = send_link_mail(e.lang, e.email, e.name, { subject = "site.mail_verify_subject",
		body = "site.mail_verify_body", link = "site.mail_verify_link", ignore = "site.mail_verify_ignore" },
		"/bevestigen?token=" .. e.token)
	if not ok then error("the verification mail could not be queued") end
end

local function send_exists_mail(e)
	local ok = send_link_mail(e.lang, e.email, nil, { subject = "site.mail_exists_subject",
		body = "site.mail_exists_body", link = "site.signin", ignore = "site.mail_exists_ignore" }, "/inloggen")
	if not ok then error("the sign-up mail could not be queued") end
end

M["GET /registreren"] = function(req)
	return signup_page(req, 200, {})
end

M["POST /registreren"] = function(req)
	local form = {
		name = req.form.name or "",
		email = (req.form.email or ""):match("^%s*(.-)%s*$"),
	}
	local st, body = plugin.api.post("/accounts", { name = form.name, email = form.email,
		password = req.form.password or "" })
	if st == 429 then
		return limited(signup_page(req, 429, form, { form = plugin.t("site.signin_limited", nil, req.lang) }), body)
	end
	if st ~= 202 then
		-- The field refused (the policy's own words for the password, in
		-- the page's language).
		local errors = {}
		if field(body, "password") then
			errors.password = field(body, "password").message or plugin.t("site.signup_password_invalid", nil, req.lang)
		elseif field(body, "email") then
			errors.email = plugin.t("site.signup_email_invalid", nil, req.lang)
		else
			errors.name = plugin.t("site.signup_name_invalid", nil, req.lang)
		end
		return signup_page(req, 422, form, errors)
	end
	local email = form.email:lower()
	return {
		html = plugin.render("signup_sent.html", { csrf = req.csrf, user = req.user, email = email }, req.lang),
	}
end

-- The link in the verification mail: single use, 24 hours.
M["GET /bevestigen"] = function(req)
	local ok = plugin.api.post("/accounts/verify", { token = req.query.token or "" }) == 200
	return {
		status = ok and 200 or 400,
		html = plugin.render("verify.html", { csrf = req.csrf, user = req.user, ok = ok }, req.lang),
	}
end

-- The verification link again, for an address whose account has not
-- confirmed it: the same page for every address (nobody learns which
-- have accounts), a mail only for such an account, at most five valid
-- links at a time.
M["GET /bevestiging-opnieuw"] = function(req)
	return { html = plugin.render("resend.html", { csrf = req.csrf, user = req.user }, req.lang) }
end

M["POST /bevestiging-opnieuw"] = function(req)
	plugin.api.post("/accounts/verify/resend", { email = req.form.email or "" })
	return { html = plugin.render("resend.html", { csrf = req.csrf, user = req.user, sent = true }, req.lang) }
end

-- Password reset by mail. The page answers alike whether or not the
-- address has an account; only an existing one gets a token (1 hour,
-- single use, stored hashed) and the mail (password.forgotten), queued in
-- the same transaction.
local function send_reset_mail(e)
	local ok = send_link_mail(e.lang, e.email, e.name, { subject = "site.mail_reset_subject",
		body = "site.mail_reset_body", link = "site.mail_reset_link", ignore = "site.mail_reset_ignore" },
		"/wachtwoord-herstellen?token=" .. e.token)
	if not ok then error("the password reset mail could not be queued") end
end

local function send_email_mail(e)
	local ok = send_link_mail(e.lang, e.email, e.name, { subject = "site.mail_email_subject",
		body = "site.mail_email_body", link = "site.mail_email_link", ignore = "site.mail_verify_ignore" },
		"/email-bevestigen?token=" .. e.token)
	if not ok then error("the address confirmation mail could not be queued") end
end

-- The mails of the account operations' events (init.lua hooks them).
M.mails = {
	["account.created"] = send_verify_mail,
	["account.exists"] = send_exists_mail,
	["verification.resent"] = send_verify_mail,
	["password.forgotten"] = send_reset_mail,
	["email.change_requested"] = send_email_mail,
}

M["GET /wachtwoord-vergeten"] = function(req)
	return { html = plugin.render("forgot.html", { csrf = req.csrf, user = req.user }, req.lang) }
end

M["POST /wachtwoord-vergeten"] = function(req)
	plugin.api.post("/password/forgot", { email = req.form.email or "" })
	return { html = plugin.render("forgot.html", { csrf = req.csrf, user = req.user, sent = true }, req.lang) }
end

local function reset_page(req, status, view)
	view.csrf = req.csrf
	view.user = req.user
	view.fields = forms().account(req, { "new_password" }, nil, { password = view.error })
	return { status = status, html = plugin.render("reset.html", view, req.lang) }
end

-- The link in the mail shows the form; only the form's POST spends the
-- token.
M["GET /wachtwoord-herstellen"] = function(req)
	local token = req.query.token or ""
	if plugin.api.get("/password/reset", { token = token }) ~= 200 then
		return reset_page(req, 400, { invalid = true })
	end
	return reset_page(req, 200, { token = token })
end

M["POST /wachtwoord-herstellen"] = function(req)
	local token = req.form.token or ""
	local st, body = plugin.api.post("/password/reset", { token = token, password = req.form.password or "" })
	if st == 200 then
		return reset_page(req, 200, { done = true })
	end
	if field(body, "password") then
		return reset_page(req, 422, {
			token = token,
			error = field(body, "password").message or plugin.t("site.signup_password_invalid", nil, req.lang),
		})
	end
	return reset_page(req, 400, { invalid = true })
end

-- The signed-in user's password: the current one is checked on the
-- hashing threads; every other session of the account ends, this one stays.
local function password_page(req, status, view)
	view.csrf = req.csrf
	view.user = req.user
	view.errors = view.errors or {}
	view.fields = forms().account(req, { "current", "new_password" }, nil, view.errors)
	return { status = status, html = plugin.render("password.html", view, req.lang) }
end

M["GET /account/wachtwoord"] = function(req)
	if not req.user then return { redirect = "/inloggen" } end
	return password_page(req, 200, {})
end

M["POST /account/wachtwoord"] = function(req)
	if not req.user then return { redirect = "/inloggen" } end
	local st, body = plugin.api.put("/me/password", { current = req.form.current or "",
		password = req.form.password or "" })
	if st == 200 then
		return password_page(req, 200, { done = true })
	end
	if st == 401 then
		return { redirect = "/inloggen" }
	end
	if st == 429 then
		return limited(password_page(req, 429, { message = plugin.t("site.signin_limited", nil, req.lang) }), body)
	end
	if field(body, "password") then
		return password_page(req, 422, {
			errors = { password = field(body, "password").message
				or plugin.t("site.signup_password_invalid", nil, req.lang) },
		})
	end
	return password_page(req, 422, {
		errors = { current = plugin.t("site.change_current_invalid", nil, req.lang) },
	})
end

-- My account: what is kept (a JSON download) and deleting the account.
M["GET /account"] = function(req)
	if not req.user then return { redirect = "/inloggen" } end
	return plugin.render("account.html", { csrf = req.csrf, user = req.user }, req.lang)
end

M["GET /account/gegevens"] = function(req)
	if not req.user then return { redirect = "/inloggen" } end
	-- The API's own document, as its JSON text: the download and
	-- GET /api/v1/me/export cannot differ.
	local st, data = plugin.api.get("/me/export", nil, { text = true })
	if st ~= 200 then return { redirect = "/inloggen" } end
	return {
		body = data,
		type = "application/json; charset=utf-8",
		headers = {
			["Content-Disposition"] = 'attachment; filename="mijn-gegevens.json"',
			["Cache-Control"] = "no-store",
		},
	}
end

local function delete_page(req, status, view)
	view.csrf = req.csrf
	view.user = req.user
	view.fields = forms().account(req, { "current" }, nil, view.errors)
	return { status = status, html = plugin.render("delete.html", view, req.lang) }
end

M["GET /account/verwijderen"] = function(req)
	if not req.user then return { redirect = "/inloggen" } end
	return delete_page(req, 200, {})
end

M["POST /account/verwijderen"] = function(req)
	if not req.user then return { redirect = "/inloggen" } end
	local st, body = plugin.api.delete("/me", { current = req.form.current or "" })
	if st == 200 then
		return delete_page(req, 200, { done = true, user = false })
	end
	if st == 401 then return { redirect = "/inloggen" } end
	if st == 429 then
		return limited(delete_page(req, 429, { message = plugin.t("site.signin_limited", nil, req.lang) }), body)
	end
	return delete_page(req, 422, { errors = { current = plugin.t("site.change_current_invalid", nil, req.lang) } })
end

-- Admin: the tenant's members and their roles, through the API's
-- operations (GET /members, PUT and DELETE /members/ID/roles/ROLE): the
-- same members in the same order and pages, the same refusals. The core
-- decides who is an admin; this page only shows and asks.
local ROLES = { "admin", "facilitator", "member" }

local function members_page(req, status, message)
	local st, body = plugin.api.get("/members", { cursor = req.query.na })
	if st == 401 then return { redirect = "/inloggen" } end
	if st ~= 200 then return { status = st } end
	local members = {}
	for _, m in ipairs(body.items) do
		local has = {}
		for _, r in ipairs(m.roles) do has[r] = true end
		local list = {}
		for _, r in ipairs(ROLES) do
			list[#list + 1] = { role = r, label = plugin.t("site.role_" .. r, nil, req.lang), has = has[r] == true }
		end
		members[#members + 1] = { id = m.id, name = m.name, email = m.email, verified = m.email_verified,
			role_list = list }
	end
	return {
		status = status,
		html = plugin.render("members.html", {
			csrf = req.csrf, user = req.user, members = members, message = message,
			more = body.next_cursor and ("/beheer/leden?na=" .. body.next_cursor),
		}, req.lang),
	}
end

M["GET /beheer/leden"] = function(req)
	if not req.user then return { redirect = "/inloggen" } end
	return members_page(req, 200)
end

M["POST /beheer/leden"] = function(req)
	if not req.user then return { redirect = "/inloggen" } end
	local id = math.tointeger(tonumber(req.form.account or ""))
	local role = req.form.role
	local valid = false
	for _, r in ipairs(ROLES) do if r == role then valid = true end end
	local action = req.form.action
	if not id or id < 1 or id >= 10 ^ 18 or not valid or (action ~= "grant" and action ~= "revoke") then
		return members_page(req, 422, plugin.t("site.members_bad", nil, req.lang))
	end
	local path = "/members/" .. id .. "/roles/" .. role
	local st, body
	if action == "grant" then
		st, body = plugin.api.put(path)
	else
		st, body = plugin.api.delete(path)
	end
	if st == 401 then return { redirect = "/inloggen" } end
	if st == 403 then return { status = 403 } end
	if st == 409 and body.error.code == "own_admin" then
		return members_page(req, 422, plugin.t("site.members_self", nil, req.lang))
	end
	-- Done, or no such account here (404): nothing to say but the list.
	return { redirect = "/beheer/leden" }
end

-- API tokens for integrations: made here (the token shown once), listed
-- and revoked by their owner, through the API's own operations.
local function tokens_page(req, status, view)
	local st, body = plugin.api.get("/tokens", { limit = 100 })
	if st == 401 then return { redirect = "/inloggen" } end
	view.tokens = {}
	for _, k in ipairs(st == 200 and body.items or {}) do
		view.tokens[#view.tokens + 1] = { id = k.id, name = k.name, revoked = k.revoked_at ~= nil,
			used = k.last_used_at and k.last_used_at:sub(1, 16):gsub("T", " ") }
	end
	view.csrf = req.csrf
	view.user = req.user
	return { status = status, html = plugin.render("tokens.html", view, req.lang) }
end

M["GET /account/sleutels"] = function(req)
	if not req.user then return { redirect = "/inloggen" } end
	return tokens_page(req, 200, {})
end

M["POST /account/sleutels"] = function(req)
	if not req.user then return { redirect = "/inloggen" } end
	local st, body = plugin.api.post("/tokens", { name = req.form.name })
	if st == 201 then return tokens_page(req, 201, { new_token = body.token }) end
	if st == 409 then return tokens_page(req, 409, { error = plugin.t("site.tokens_too_many", nil, req.lang) }) end
	return tokens_page(req, 422, { error = plugin.t("site.tokens_name_invalid", nil, req.lang) })
end

M["POST /account/sleutels/:id/intrekken"] = function(req, p)
	if not req.user then return { redirect = "/inloggen" } end
	local id = p.id:match("^[1-9]%d*$") and #p.id <= 18 and p.id
	if not id then return { status = 404 } end
	local st = plugin.api.delete("/tokens/" .. id)
	if st ~= 200 then return { status = 404 } end
	return { redirect = "/account/sleutels" }
end

-- A new e-mail address: the password first, then a confirmation link to
-- the new address; the address moves only when the link is followed.
local function email_page(req, status, view)
	view.csrf = req.csrf
	view.user = req.user
	view.fields = forms().account(req, { "new_email", "current" }, { email = view.email }, view.errors)
	return { status = status, html = plugin.render("email.html", view, req.lang) }
end

M["GET /account/email"] = function(req)
	if not req.user then return { redirect = "/inloggen" } end
	return email_page(req, 200, {})
end

M["POST /account/email"] = function(req)
	if not req.user then return { redirect = "/inloggen" } end
	local email = (req.form.email or ""):match("^%s*(.-)%s*$")
	local st, body = plugin.api.post("/me/email", { current = req.form.current or "", email = email })
	if st == 202 then
		return email_page(req, 200, { sent = true, email = email })
	end
	if st == 401 then return { redirect = "/inloggen" } end
	if st == 429 then
		return limited(email_page(req, 429, { email = email,
			message = plugin.t("site.signin_limited", nil, req.lang) }), body)
	end
	if field(body, "email") then
		return email_page(req, 422, { email = email,
			errors = { email = plugin.t("site.signup_email_invalid", nil, req.lang) } })
	end
	return email_page(req, 422, { email = email,
		errors = { current = plugin.t("site.change_current_invalid", nil, req.lang) } })
end

M["GET /email-bevestigen"] = function(req)
	local ok = plugin.api.post("/me/email/confirm", { token = req.query.token or "" }) == 200
	return {
		status = ok and 200 or 400,
		html = plugin.render("email_done.html", { ok = ok, csrf = req.csrf, user = req.user }, req.lang),
	}
end

return M
