// PosternHTTP: speaks HTTP for the core.
//
// Charter: translate requests into core calls and core answers into JSON. No
// security rule lives here; every decision comes from PosternCore.
