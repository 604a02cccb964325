build/obj/src/common/buf.o: src/common/buf.c src/common/buf.h \
 include/cairn_errors.h src/common/assert.h
src/common/buf.h:
include/cairn_errors.h:
src/common/assert.h:
