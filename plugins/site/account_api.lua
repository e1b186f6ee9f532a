-- The JSON API's account operations, done by the site plugin because they
-- need what only a platform plugin has: passwords (plugin.auth) and mail.
-- Each handler gets the arguments and ctx (ctx.lang, the caller's
-- language for mails and password messages) and answers status, body in
-- the API's shape. As on the pages: an unknown address gets the same
-- answer as a known one wherever the answer would tell them apart.
--
-- The operations that check a password (session_create, account_create,
-- password_change, email_change, account_delete) are committed whatever
-- they answer below 500, because the core counted the attempt before it
-- hashed (core/api.c, API_ATTEMPTS): when they refuse, they must have
-- written nothing else. A failure after a write raises instead (a 500,
-- rolled back).

local M = {}

local function fail(status, code, message, fields)
	return status, { error = { code = code, message = message, fields = fields or {} } }
end

local function invalid(name, code, message)
	return fail(422, "invalid", "Some fields are not valid.", { [name] = { code = code, message = message } })
end

local function text(v)
	return type(v) == "string" and v or nil
end

-- The answer for the failures the password calls share. A 429 says in
-- error.retry_after when to try again (the daemon sends it as Retry-After
-- too).
local function refused(why, extra)
	if why == "limited" then
		local status, body = fail(429, "limited", "Too many failed attempts; try again in " .. tostring(extra) .. " seconds.")
		body.error.retry_after = math.tointeger(extra)
		return status, body
	end
	if why == "signin" then return fail(401, "unauthorized", "Sign in or send an API token.") end
	if why == "current" then return invalid("current", "wrong", "The current password is not right.") end
	if why == "password" then return invalid("password", "policy", extra or "This password cannot be used.") end
	if why == "email" then return invalid("email", "email", "Not an e-mail address.") end
	return fail(400, "invalid_token", "The link is not valid (any more).")
end

local function clean_email(v)
	return (text(v) or ""):match("^%s*(.-)%s*$"):lower()
end

-- Sign-in: the session cookie is set with the answer, which holds the
-- session's CSRF token for the X-CSRF-Token header.
function M.session_create(a)
	local email, password = text(a.email), text(a.password)
	if not email then return invalid("email", "required", "This field is required.") end
	if not password then return invalid("password", "required", "This field is required.") end
	local ok, csrf, retry = plugin.auth.signin(email, password)
	if ok then return 200, { csrf_token = csrf } end
	if csrf == "limited" then return refused("limited", retry) end
	return fail(401, "invalid_credentials", "The e-mail address or the password is not right.")
end

function M.session_delete()
	plugin.auth.signout()
	return 200, { signed_out = true }
end

-- Sign-up: 202 alike for a new and a taken address; the owner of a taken
-- one gets a mail saying so, a new one the confirmation link.
function M.account_create(a, ctx)
	local email = clean_email(a.email)
	local name = text(a.name)
	local ok, token, why = plugin.auth.signup(email, name or "", text(a.password) or "", ctx.lang)
	if not ok then
		if token == "limited" then return refused("limited", why) end
		if token == "name" then return invalid("name", "required", "A name of 1 to 100 characters.") end
		return refused(token, why)
	end
	if token then
		account_mails().verify(ctx, email, name:match("^%s*(.-)%s*$"), token)
	elseif why == "exists" then
		account_mails().exists(ctx, email)
	end
	return 202, { status = "sent" }
end

function M.account_verify(a)
	if plugin.auth.verify(text(a.token) or "") then return 200, { verified = true } end
	return refused("token")
end

function M.account_resend(a, ctx)
	local email = clean_email(a.email)
	local token, name = plugin.auth.resend(email)
	if token then account_mails().verify(ctx, email, name, token) end
	return 202, { status = "sent" }
end

function M.password_forgot(a, ctx)
	local email = clean_email(a.email)
	local token, name = plugin.auth.forgot(email)
	if token then account_mails().reset(ctx, email, name, token) end
	return 202, { status = "sent" }
end

function M.password_reset(a, ctx)
	local ok, why, message = plugin.auth.reset(text(a.token) or "", text(a.password) or "", ctx.lang)
	if ok then return 200, { reset = true } end
	return refused(why == "password" and "password" or "token", message)
end

function M.password_change(a, ctx)
	local ok, why, extra = plugin.auth.change_password(text(a.current) or "", text(a.password) or "", ctx.lang)
	if ok then return 200, { changed = true } end
	return refused(why, extra)
end

-- A new address: confirmed by a link to it, like on the site.
function M.email_change(a, ctx)
	local email = clean_email(a.email)
	local ok, token, why = plugin.auth.change_email(text(a.current) or "", email)
	if ok then
		if token and not account_mails().email(ctx, email, nil, token) then
			error("the address confirmation mail could not be queued")
		end
		return 202, { status = "sent" }
	end
	return refused(token, why)
end

function M.email_confirm(a)
	if plugin.auth.confirm_email(text(a.token) or "") then return 200, { confirmed = true } end
	return refused("token")
end

-- Deleting the signed-in account needs its password; the session ends.
function M.account_delete(a)
	local ok, why, extra = plugin.auth.delete_account(text(a.current) or "")
	if ok then return 200, { deleted = true } end
	return refused(why, extra)
end

return M
