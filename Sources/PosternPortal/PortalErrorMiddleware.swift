import Hummingbird
import PosternCore
import PosternHTTP

/// Errors on portal pages become pages: a clear "try again" when the
/// database cannot answer, and a plain apology otherwise.
struct PortalErrorMiddleware: RouterMiddleware {
    let views: PortalViews

    func handle(_ request: Request, context: PortalContext, next: (Request, PortalContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch StoreError.unavailable {
            context.logger.error("store unavailable", metadata: ["path": "\(LoggedPath.of(request))"])
            return try views.page("message", status: .serviceUnavailable, context: context, data: [
                "heading": "Please try again in a moment",
                "message": "Postern can't reach its database right now. Nothing was changed. Wait a moment, then try again.",
                "link": request.uri.path, "linkText": "Try again",
            ])
        } catch let error as HTTPResponseError where error.status == .notFound || error.status == .badRequest {
            return try views.page("message", status: error.status, context: context, data: [
                "heading": "Not found", "message": "There is no such page.", "link": "/security", "linkText": "Back to Security",
            ])
        } catch {
            context.logger.error("unexpected error", metadata: ["path": "\(LoggedPath.of(request))", "type": "\(type(of: error))"])
            return try views.page("message", status: .internalServerError, context: context, data: [
                "heading": "Something went wrong", "message": "Something went wrong on our side. Try again.",
                "link": "/security", "linkText": "Back to Security",
            ])
        }
    }
}

/// Answers a `PortalRefusal` (a route's typed context could not be built):
/// for pages and forms a 303 to the refusal's page; for the routes the
/// portal's script calls, JSON the script follows. It sits inside
/// `BrowserSessionMiddleware`, so the answer gets a new CSRF cookie when the
/// browser had none, as any other answer does.
struct PortalRefusalMiddleware: RouterMiddleware {
    enum Caller { case browser, script }
    let caller: Caller

    init(for caller: Caller) {
        self.caller = caller
    }

    func handle(_ request: Request, context: PortalContext, next: (Request, PortalContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let refusal as PortalRefusal {
            switch caller {
            case .browser: return PortalViews.redirect(refusal.page)
            case .script: return JSONBody.object(refusal.scriptStatus, ["redirect": refusal.scriptRedirect])
            }
        }
    }
}
