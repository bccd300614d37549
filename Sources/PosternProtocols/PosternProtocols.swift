// PosternProtocols: the mail and chat servers' external-authentication
// protocols (Dovecot's auth protocol, server side; ejabberd's extauth framing;
// nginx's mail auth_http headers; the JSON body of /v1/verify), the SMTP
// client session, and mail-client setup (autoconfig and Autodiscover
// documents, the Autodiscover request), as value-type state machines, parsers
// fed bytes and builders.
//
// Charter: parse and answer, nothing more. No socket, no clock, no core: a
// state machine says what to send, what to verify and when to close, and the
// caller does it. Every machine is tested on recorded transcripts, without I/O.
