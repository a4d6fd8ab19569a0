// Jest runs the CommonJS bodies of a test's module graph before its ES module
// bodies. jwks-rsa (CommonJS) require()s jose (ESM only), so a test graph that
// also imports jose, as the token helpers do, fails with
// ERR_REQUIRE_CYCLE_MODULE. Evaluating jose here, before each test file, lets
// both find the one already-evaluated instance.
import 'jose';
