// PosternPortal: the web pages people use to manage their account security.
//
// Charter: render pages and translate form posts into core calls. Every rule
// (who may sign in, what needs a second factor) lives in PosternCore. Nothing
// here changes state on GET.
