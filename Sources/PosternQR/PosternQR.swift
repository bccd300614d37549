// PosternQR: a QR Code encoder (ISO/IEC 18004 Model 2), byte mode, error
// correction level M, versions 1 to 40, rendered as SVG.
//
// Charter: pure computation on bytes. No I/O, no dependencies.
