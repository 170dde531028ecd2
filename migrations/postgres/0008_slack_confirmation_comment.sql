-- A denial from Slack carries its reason (asked in a modal); when the role needs a fresh
-- login, the reason waits with the confirmation until the identity provider confirms.
ALTER TABLE slack_confirmations ADD COLUMN comment TEXT;
