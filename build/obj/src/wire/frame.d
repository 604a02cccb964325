build/obj/src/wire/frame.o: src/wire/frame.c src/wire/frame.h \
 src/common/buf.h include/cairn_errors.h src/common/crc32c.h \
 src/common/limits.h src/wire/codec.h
src/wire/frame.h:
src/common/buf.h:
include/cairn_errors.h:
src/common/crc32c.h:
src/common/limits.h:
src/wire/codec.h:
